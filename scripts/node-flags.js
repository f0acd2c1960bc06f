// The node flags both apps run with, wherever they are started: scripts/start.js, the bench
// (bench/lib/servers.js), test-support's scale-out deployment, and the container images' CMD
// (infra/docker/Dockerfile; the Kubernetes manifests and the Helm chart run that CMD).
// `node infra/scripts/check.js` checks that the Dockerfile's CMDs carry the same flags.
//
// --max-semi-space-size=2 (MiB): V8's young generation is two semi-spaces. node 20's default lets
// each grow to 16 MiB, and a streaming server's allocation rate grows them to that within seconds;
// the pages stay resident while holding a few MiB of live objects (idle frontend: 30 MiB resident
// for 2.4 MiB used). At 2 MiB the young generation holds 4 MiB. Measured: README, Performance, Memory.
const NODE_FLAGS = Object.freeze(['--max-semi-space-size=2']);

module.exports = { NODE_FLAGS };
