/**
 * Real servers and fixtures for integration tests: redis-server, Debian's docker-registry
 * (distribution 2.8) with none/basic/token auth, a counting reverse proxy, and OCI fixtures pushed
 * with skopeo; clients (skopeo, containerd, podman with a private store) and a TLS-terminating
 * proxy, Azurite's blob service (in memory); a scale-out of the built apps (N frontends, M hydrators
 * as processes on one store and one Redis) and a client that times each blob's first and last byte. Everything binds to 127.0.0.1 on ephemeral ports and is killed by stop(), on exit, or by
 * a watchdog if the test process dies.
 */
export { tempDir, type TempDir } from './temp-dir.js';
export { listenOnLoopback, closeServer } from './http-listen.js';
export { freePort, withFreePort, AddressInUseError } from './free-port.js';
export { uniquePrefix } from './unique-prefix.js';
export { startProcess, type ManagedProcess, type ProcessSpec } from './managed-process.js';
export { waitUntil, type WaitOptions } from './wait-until.js';
export { startRedis, type RedisOptions, type RedisServer } from './redis-server.js';
export { listensOn } from './port-owner.js';
export { startAzurite, type Azurite } from './azurite.js';
export { startRegistry, type RegistryAuthMode, type RegistryOptions, type UpstreamRegistry } from './upstream-registry.js';
export { startTokenServer, ACR_AUDIENCE, type AcrAuthOptions, type TokenServer, type TokenServerOptions, type TokenRequestRecord, type ResourceAccess } from './token-server.js';
export {
  startCountingProxy,
  faultFor,
  type BodyFault,
  type StatusFault,
  type CountingProxy,
  type CountingProxyOptions,
  type Fault,
  type FaultRule,
  type ProxiedRequest,
  type RequestFilter,
} from './counting-proxy.js';
export { classifyRequest, type ClassifiedPath, type RequestKind } from './request-kind.js';
export { pushFixtures, type Fixtures, type FixtureOptions } from './fixtures.js';
export { readFixture, type Fixture, type FixtureBlob, type FixtureManifest } from './fixture-reader.js';
export { FIXTURE_NAMES, DEFAULT_LAYER_SIZES, writeFixtureLayout, type FixtureName } from './fixture-layout.js';
export { OciLayout } from './oci-layout.js';
export { writeImage, writeIndex, writeArtifact, OCI_LAYER_GZIP, SBOM_MEDIA_TYPE, type ImageSpec } from './image-builder.js';
export { createTar, type TarEntry } from './tar.js';
export { pseudoRandomBytes } from './pseudo-random.js';
export { skopeoCopy, skopeoInspect, skopeoInspectRaw, skopeoListTags, skopeoRegistryFlags, type SkopeoInspection, type SkopeoRegistryOptions } from './skopeo.js';
export { writeRegistriesConf, type RegistryMirror } from './registries-conf.js';
export { startPodman, type Podman, type PodmanImage, type PodmanPullOptions } from './podman.js';
export { RegistryClient, registryClientFor, type RegistryCredentials, type ManifestResponse } from './registry-client.js';
export { startContainerd, type Containerd } from './containerd.js';
export { hostsToml, writeHostsToml, type ContainerdHostsConfig, type ContainerdMirror } from './containerd-hosts.js';
export { createTlsCertificate, type TlsCertificate } from './tls-certificate.js';
export { startTlsProxy, type TlsProxy } from './tls-proxy.js';
export { startIdentityEmulator, type IdentityEmulator, type IssuedToken } from './identity-emulator.js';
export { startKeyVaultEmulator, KEY_VAULT_TENANT, type KeyVaultEmulator } from './key-vault-emulator.js';
export { startFixtureUpstream, type FixtureUpstream } from './fixture-upstream.js';
export { signJwt, signJws, unsignedJwt, type JwsAlgorithm } from './jwt.js';
export { startJwksServer, type JwksServer, type IssuerKey } from './jwks-server.js';
export { ByteRate } from './byte-rate.js';
export { startScaleOut, type ScaleOut, type ScaleOutOptions, type ScaleOutStorage, type AppProcess, type FrontendProcess, type HydratorProcess } from './scale-out.js';
export { timedPull, timedBlobGet, barrier, type TimedPull, type TimedBlob } from './timed-pull.js';
export { herdTimings, type BlobTimings, type ClientTiming } from './herd-timings.js';
export { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './otlp-receiver.js';
