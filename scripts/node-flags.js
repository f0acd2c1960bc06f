// The node flags (and below, the environment) both apps run with, wherever they are started: scripts/start.js, the bench
// (bench/lib/servers.js), test-support's scale-out deployment, and the container images' CMD
// (infra/docker/Dockerfile; the Kubernetes manifests and the Helm chart run that CMD).
// `node infra/scripts/check.js` checks that the Dockerfile's CMDs carry the same flags.
//
// --max-semi-space-size=2 (MiB): V8's young generation is two semi-spaces. node 20's default lets
// each grow to 16 MiB, and a streaming server's allocation rate grows them to that within seconds;
// the pages stay resident while holding a few MiB of live objects (idle frontend: 30 MiB resident
// for 2.4 MiB used). At 2 MiB the young generation holds 4 MiB. Measured: README, Performance, Memory.
//
// --liftoff-only: WebAssembly runs on V8's baseline compiler (Liftoff) only, never tiered up to its
// optimizing one. The only WebAssembly either app runs is undici's HTTP/1.1 parser (llhttp), which parses
// every upstream response. Once it had parsed a few responses, V8 recompiled its parser function on a
// helper thread, and that one compilation took 25-30 MiB of native memory for about 40 ms, then left
// 5-9 MiB of it resident (the frontend sampled every 5 ms in-process: 77 -> 117 MiB at the end of the
// bench's warm-up, nothing in V8's heap or ArrayBuffers moving; gone with this flag, 78 -> 82 MiB). It came
// at the warm-up's last pulls, tens of ms before the bench's herd, and in production it comes with the first
// upstream requests after a start, under whatever load is there. The parser's cost per response does not
// show: cold pulls through profile-cold.js (60 layers and 512 MiB, alternating) used the same frontend CPU
// within this machine's noise. README, Performance, Memory (twenty-fourth session).
const NODE_FLAGS = Object.freeze(['--max-semi-space-size=2', '--liftoff-only']);

// The environment both apps run with, the same launchers (an operator's own value wins; the
// Dockerfile sets it with ENV, checked by infra/scripts/check.js).
//
// MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (libuv's pool, V8's GC and compiler threads) a
// malloc arena of its own by default, and the pages freed in them stay resident. From 2026-12-02 to 12-05 it
// was 1: the frontend's herd peak RSS was 105.8-108.8 MiB against 111.7-115.3 MiB with the default (three
// bench herd rounds each). With one arena the threads' short-lived blocks land in the main thread's heap
// and pin it: the frontend's malloc heap grew from 4 to 12-26 MiB over the first four pulls after start
// (`/proc/<pid>/smaps`, `[heap]`), a different amount every time, and stayed. With two (the main thread's,
// and one the threads share, which glibc trims) it stays at 4 MiB, and the herd's peak was 100.5-108.8 MiB
// against 100.5-110.9 with one, and 101.8-123.9 with the code before (6 bench herd rounds each,
// alternating, 2026-12-05; README, Performance, Memory). node's own allocations are mostly on the main
// thread, so the shared arena's lock is rarely contended.
//
// MALLOC_MMAP_THRESHOLD_=262144: glibc serves an allocation of 256 KiB or more with a mapping of its own,
// given back to the kernel when freed. By default it raises that threshold whenever such a block is freed,
// so after the first freed 1 MiB read buffer every later one came from the arena, whose freed pages stay
// resident. Fixed at 256 KiB (the upstream socket's 64 KiB reads still come from the arena): the frontend's
// herd peak RSS was 97.6-109.7 MiB (median 104.5) against 104.9-123.9 (109.6), 9 bench rounds each, and
// 100-108 against 103-115 in 8 and 9 more; cold and warm CPU per GiB the same within the noise (README,
// Performance, Memory; eighteenth session, 2026-12-04).
const NODE_ENV_VARS = Object.freeze({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '262144' });

/** `env` with NODE_ENV_VARS added where it does not set them. */
const withNodeEnv = (env) => ({ ...NODE_ENV_VARS, ...env });

module.exports = { NODE_FLAGS, NODE_ENV_VARS, withNodeEnv };
