#!/usr/bin/env bash
# Install what a fresh Debian/Ubuntu machine lacks: the system packages the service and the tests
# run (redis-server, docker-registry, skopeo, containerd's ctr, htpasswd, openssl, podman, and chromium for the
# console's browser tests), then npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pair in redis-server:redis-server docker-registry:docker-registry skopeo:skopeo ctr:containerd htpasswd:apache2-utils openssl:openssl podman:podman chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" != 0 ] && sudo=sudo
  echo "installing system packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -e node_modules/.bin/pullthrough ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
