'use strict';
// `node bench/profile-cold.js [--mib=512] [--layers] [--out=<dir>] [--top=25] [--settle=6000] [--no-prof] [--reference] [--verifying] [--verifying-lag-mib=N] [--ceiling] [--idle] [--warm-mib=N] [--warm-images=N] [--trace-gc] [--node-arg=<flag>]`: one cold pull of a
// single-layer image through the built frontend (run `npm run build` first) under `node --cpu-prof`,
// then the CPU seconds of each process of ours (frontend, hydrator, redis-server: /proc/<pid>/stat)
// from the pull's start until `--settle` ms after it (the hydration job runs 5 s after a pull), and
// the frontend profile's top functions by self time within that window (sample times are CLOCK_MONOTONIC),
// the write-lag and fell-behind counters from /metrics. The profile is kept only with `--out` (else it
// goes with the run's temp dir). `--no-prof`: no profiler (its own cost left out); `--reference`: the same
// pull through the reference (distribution in proxy mode) first, for comparison in the same conditions;
// `--verifying`: the same (JIT-warmed by the `--warm-mib` image) through the verifying write-through proxy
// (bench/lib/verifying-proxy-child.js), its threads' user and system time, the upstream's and this
// process's (the client's) CPU beside it, as they are also printed for ours; `--verifying-lag-mib=N`: the
// same with its file queue bounded to N MiB (the read waits for the file beyond it, like our write lag);
// `--ceiling`: the bench's write-through ceiling (no client) once first, with its own and the upstream's CPU;
// `--idle`: the CPU of the idle processes over the same window; `--warm-mib=N`: a cold pull of another
// N MiB image first (JIT-warm, cache-cold); `--warm-images=N`: of N other images with the measured one's
// layer sizes; `--layers`: the bench's 60-layer image (256 KiB .. 4 MiB, ~130 MiB) instead of one `--mib`
// layer; `--node-arg=<flag>`: a node flag for the frontend (repeatable). It also prints the window's
// CLOCK_MONOTONIC bounds (to cut a `perf record -k mono` to it) and the Redis commands run in it.
const os = require('node:os');
const path = require('node:path');
const { mkdir, readdir, readFile } = require('node:fs/promises');
const { frontendGcLines, gcKind } = require('./lib/gc-trace.js');
const { request } = require('undici');
const { tempDir } = require('@pullthrough/test-support');
const { MiB, pushRandomImage, sixtyLayerSizes } = require('./lib/fixtures.js');
const { pullImage } = require('./lib/pull-client.js');
const { startPullthrough, startReferenceProxy, startUpstreamAndRedis, startVerifyingProxy, redisPid, redisCommandCalls } = require('./lib/servers.js');
const { clockTicks, measureCpu, ownCpuSince, statTimes } = require('./lib/proc-cpu.js');
const { flagValue, runScript, stopAll } = require('./lib/script.js');
const { writeThroughOnce } = require('./lib/write-through-ceiling.js');

/** { '<thread name>': { user, sys } CPU seconds } of every thread of `pid` so far (same names summed). */
async function threadCpu(pid) {
  const out = {};
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    try {
      const text = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : `${text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'))} ${tid}`;
      const { user, sys } = statTimes(text);
      const t = (out[name] ??= { user: 0, sys: 0 });
      t.user += user;
      t.sys += sys;
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Thread CPU of `pid` between two `threadCpu` snapshots, one line per busy thread. */
function threadLines(what, before, after) {
  const lines = [];
  for (const [name, t] of Object.entries(after)) {
    const b = before[name] ?? { user: 0, sys: 0 };
    const user = t.user - b.user;
    const sys = t.sys - b.sys;
    if (user + sys > 0) lines.push(`    ${what} thread ${name.padEnd(16)} user ${user.toFixed(2)} s, sys ${sys.toFixed(2)} s`);
  }
  return lines;
}

/** { syscr, syscw, rchar, wchar, faults } of `pid` so far (/proc/<pid>/io: read and write system calls and their bytes; minor faults). */
async function ioCounts(pid) {
  const text = await readFile(`/proc/${pid}/io`, 'utf8');
  const { faults } = statTimes(await readFile(`/proc/${pid}/stat`, 'utf8'));
  return { ...Object.fromEntries(text.trim().split('\n').map((l) => l.split(': ')).map(([k, v]) => [k, Number(v)])), faults };
}

/** Read and write system calls of `pid` between two `ioCounts` snapshots, the mean bytes per call, and minor faults. */
function ioLine(what, a, b) {
  const reads = b.syscr - a.syscr;
  const writes = b.syscw - a.syscw;
  const kib = (bytes, n) => (n > 0 ? (bytes / n / 1024).toFixed(0) : '-');
  return `    ${what}: ${reads} reads (${kib(b.rchar - a.rchar, reads)} KiB each), ${writes} writes (${kib(b.wchar - a.wchar, writes)} KiB each), ${b.faults - a.faults} minor faults`;
}

/** The machine's CPU time so far by kind (/proc/stat's `cpu` line, in clock ticks). */
async function machineTicks() {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line;
  return { user: user + nice, system: system + irq + softirq, idle, iowait, steal };
}

/** The machine's CPU seconds by kind between two `machineTicks` snapshots. */
function machineLine(a, b) {
  return Object.keys(b).map((k) => `${k} ${((b[k] - a[k]) / clockTicks()).toFixed(2)} s`).join(', ');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Self time per function (name + file:line) of a .cpuprofile, largest first, as [label, ms, share]. */
function topSelf(profile, top, window) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const deltas = profile.timeDeltas;
  let total = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += deltas[i] ?? 0;
    // Sample timestamps are CLOCK_MONOTONIC microseconds, like process.hrtime here.
    if (window && (at < window.from || at > window.to)) continue;
    const node = byId.get(profile.samples[i]);
    const dt = (deltas[i] ?? 0) / 1000;
    total += dt;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url ? url.replace(/^.*\/(packages|apps|node_modules)\//, '$1/') : '';
    const label = `${functionName || '(anonymous)'} ${file}${file ? `:${lineNumber + 1}` : ''}`;
    self.set(label, (self.get(label) ?? 0) + dt);
  }
  const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { total, rows: rows.map(([label, ms]) => [label, ms, ms / total]) };
}

/** The frontend's write-lag counters (waits, overflows, completion GETs), clients that fell behind and client waits, from its admin port's /metrics. */
async function writeLagMetrics(adminUrl) {
  const res = await request(`${adminUrl}/metrics`);
  const text = await res.body.text();
  return text.split('\n').filter((l) => /^pullthrough_(blob_(write_lag_(overflows|waits)|write_completion|clients_fell_behind|client_waits)|upstream_read_slabs)/.test(l));
}

/** One cold pull through the reference, its CPU seconds until `settleMs` after the pull's start. */
async function referencePull(upstream, image, small, settleMs) {
  const ref = await startReferenceProxy(upstream.url);
  try {
    await pullImage(ref.url, small.repository, small.tag);
    const t0 = Date.now();
    const cpu = await measureCpu(ref.pids);
    const pulled = await pullImage(ref.url, image.repository, image.tag);
    await sleep(Math.max(0, settleMs - (Date.now() - t0)));
    const used = await cpu.stop();
    const gib = pulled.bytes / (1024 * MiB);
    console.log(`reference cold pull: ${pulled.mibPerSec.toFixed(0)} MiB/s (${pulled.ms.toFixed(0)} ms, manifest ${pulled.manifestMs.toFixed(0)} ms, first blob byte ${pulled.ttfbMs?.toFixed(0)} ms); registry ${used.registry.toFixed(2)} CPU s, ${(used.registry / gib).toFixed(2)} s/GiB; load ${os.loadavg()[0].toFixed(2)}`);
  } finally {
    await ref.stop();
  }
}

/**
 * What one pull costs, measured around it: CPU of `pids` ({ name: pid }), per thread of `pids[what]`, its and the
 * upstream's read and write system calls and faults, the machine's CPU by kind and this process's (the client's).
 * `await probe(what, pids)` before the pull; the function it resolves, called after it, resolves
 * `{ cpu, threadsAtStart, lines }` (`cpu`: CPU seconds by name, the client's included; `threadsAtStart`: the thread
 * snapshot `what` had when the pull started; `lines`: what to print).
 */
async function probe(what, pids) {
  const cpu = await measureCpu(pids);
  const threads = what && (await threadCpu(pids[what]));
  const io = [what && (await ioCounts(pids[what])), await ioCounts(pids.upstream)];
  const machine = await machineTicks();
  const client = process.cpuUsage();
  return async () => {
    const clientS = ownCpuSince(client);
    const machineAfter = await machineTicks();
    const ioAfter = [what && (await ioCounts(pids[what])), await ioCounts(pids.upstream)];
    const threadsAfter = what && (await threadCpu(pids[what]));
    const used = { ...(await cpu.stop()), client: clientS };
    const lines = [
      ...(what ? [`  ${what} threads during the pull only:`, ...threadLines(what, threads, threadsAfter), ioLine(`${what}, during the pull`, io[0], ioAfter[0])] : []),
      ioLine('upstream, during the pull', io[1], ioAfter[1]),
      `    machine during the pull: ${machineLine(machine, machineAfter)}`,
      `  during the pull: ${Object.entries(used).map(([k, v]) => `${k} ${v.toFixed(2)} CPU s`).join(', ')}`,
    ];
    return { cpu: used, threadsAtStart: threads, lines };
  };
}

/** One cold pull through the verifying write-through proxy (JIT-warmed by `warm`), its CPU until every file is fsynced. */
async function verifyingPull(upstream, image, small, warm, lagBytes) {
  const logDir = await tempDir('bench-verifying-log-');
  const proxy = await startVerifyingProxy(upstream.url, logDir.path, { lagBytes });
  try {
    for (const other of [small, warm].filter(Boolean)) {
      await pullImage(proxy.url, other.repository, other.tag);
      await proxy.clear();
    }
    const pids = { verifying: proxy.pid, upstream: upstream.pid };
    const cpu = await measureCpu(pids);
    const measured = await probe('verifying', pids);
    const pulled = await pullImage(proxy.url, image.repository, image.tag);
    const during = await measured();
    await proxy.clear();
    const used = await cpu.stop();
    const gib = pulled.bytes / (1024 * MiB);
    console.log(`verifying proxy${lagBytes === undefined ? '' : ` (file queue bounded to ${lagBytes / MiB} MiB)`} cold pull: ${pulled.mibPerSec.toFixed(0)} MiB/s (${pulled.ms.toFixed(0)} ms); load ${os.loadavg()[0].toFixed(2)}`);
    for (const [name, s] of Object.entries({ ...used, client: during.cpu.client })) console.log(`  ${name.padEnd(13)} ${s?.toFixed(2)} CPU s  ${(s / gib).toFixed(2)} s/GiB`);
    const hwm = /VmHWM:\s+(\d+) kB/.exec(await readFile(`/proc/${proxy.pid}/status`, 'utf8'))?.[1];
    console.log(`    verifying proxy peak RSS (VmHWM, its whole life): ${(Number(hwm) / 1024).toFixed(1)} MiB`);
    for (const line of during.lines) console.log(line);
  } finally {
    await proxy.stop();
    await logDir.remove();
  }
}

/** The write-through ceiling (no client: upstream GET, sha256, 1 MiB writes, fsync) once, with the CPU it took. */
async function ceilingRun(upstream, image, dir) {
  const measured = await probe(undefined, { upstream: upstream.pid });
  const started = Date.now();
  const mibPerSec = await writeThroughOnce(upstream.url, image.repository, image.blobs.at(-1), dir);
  const ms = Date.now() - started;
  const { lines } = await measured();
  console.log(`write-through ceiling (no client: this process hashes and writes; fsync included): ${mibPerSec.toFixed(0)} MiB/s (${ms} ms)`);
  for (const line of lines) console.log(line);
}

async function main(argv) {
  const flag = (name, dflt) => flagValue(argv, name, dflt);
  const mib = Number(flag('mib', '512'));
  const top = Number(flag('top', '25'));
  const settleMs = Number(flag('settle', '6000'));
  const work = await tempDir('bench-profile-');
  const outDir = flag('out', path.join(work.path, 'profile'));
  await mkdir(outDir, { recursive: true });
  const stops = [];
  try {
    const { upstream, redis, stop } = await startUpstreamAndRedis();
    stops.push(stop);
    const seed = `profile-${Date.now()}`;
    const layerSizes = argv.includes('--layers') ? sixtyLayerSizes() : [mib * MiB];
    const image = await pushRandomImage(upstream.url, work.path, { repository: 'bench/big', tag: 'v1', layerSizes, seed });
    const small = await pushRandomImage(upstream.url, work.path, { repository: 'bench/small', tag: 'v1', layerSizes: [4096], seed });
    const warmMiB = Number(flag('warm-mib', '0'));
    const warm = warmMiB > 0 ? await pushRandomImage(upstream.url, work.path, { repository: 'bench/warm', tag: 'v1', layerSizes: [warmMiB * MiB], seed }) : undefined;
    if (argv.includes('--reference')) await referencePull(upstream, image, small, settleMs);
    if (argv.includes('--ceiling')) await ceilingRun(upstream, image, work.path);
    if (argv.includes('--verifying')) await verifyingPull(upstream, image, small, warm);
    const lagMiB = flag('verifying-lag-mib', undefined);
    if (lagMiB !== undefined) await verifyingPull(upstream, image, small, warm, Number(lagMiB) * MiB);
    const profiling = !argv.includes('--no-prof');
    const traceGc = argv.includes('--trace-gc');
    const proxy = await startPullthrough({ redisUrl: redis.url, upstreamHost: upstream.host, ...(profiling ? { profileDir: outDir } : {}), nodeArgs: [...(traceGc ? ['--trace-gc'] : []), ...argv.filter((a) => a.startsWith('--node-arg=')).map((a) => a.slice('--node-arg='.length))] });
    const gcLines = () => frontendGcLines(proxy);
    const gcBefore = traceGc ? (await gcLines()).length : 0;
    let stopped = false;
    stops.push(() => (stopped ? undefined : proxy.stop()));
    const pids = { ...proxy.pids, 'redis-server': await redisPid(redis.url) };
    const others = { upstream: upstream.pid };
    await pullImage(proxy.url, small.repository, small.tag); // warm-up: JIT, pools, lazy modules
    if (argv.includes('--idle')) {
      // What the idle process costs over the same window (timers, queue polling, metrics).
      const idle = await measureCpu(pids);
      await sleep(settleMs);
      const spent = await idle.stop();
      console.log(`idle ${settleMs} ms: ${Object.entries(spent).map(([k, v]) => `${k} ${v?.toFixed(2)} s`).join(', ')}`);
    }
    const warmImages = Number(flag('warm-images', '0'));
    if (warmImages > 0) {
      // Other images like the measured one first (cold pulls each): its per-blob code is optimized by then.
      for (let i = 0; i < warmImages; i++) {
        const other = await pushRandomImage(upstream.url, work.path, { repository: `bench/warm${i}`, tag: 'v1', layerSizes: layerSizes.map((n) => n + 1 + i), seed });
        await pullImage(proxy.url, other.repository, other.tag);
      }
      await sleep(settleMs);
    } else if (warm) {
      // A cold pull of another image first: the per-chunk code is optimized by then (JIT-warm, cache-cold).
      await pullImage(proxy.url, warm.repository, warm.tag);
      await sleep(settleMs);
    }
    const t0 = Date.now();
    const from = Number(process.hrtime.bigint() / 1000n);
    const cpu = await measureCpu(pids);
    const redisBefore = await redisCommandCalls(redis.url);
    const measured = await probe('frontend', { ...pids, ...others });
    const pulled = await pullImage(proxy.url, image.repository, image.tag);
    const during = await measured();
    for (;;) {
      const res = await request(`${proxy.url}/v2/${image.repository}/blobs/${image.blobs[1].digest}`, { method: 'HEAD' });
      await res.body.dump();
      if (res.headers['x-cache'] === 'hit') break;
      await sleep(100);
    }
    const storedMs = Date.now() - t0;
    await sleep(Math.max(0, settleMs - storedMs));
    const used = await cpu.stop();
    const lagLines = await writeLagMetrics(proxy.adminUrl);
    const redisAfter = await redisCommandCalls(redis.url);
    const to = Number(process.hrtime.bigint() / 1000n);
    const threadsAfter = await threadCpu(pids.frontend);
    const gib = pulled.bytes / (1024 * MiB);
    const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
    console.log(`cold pull of ${(pulled.bytes / MiB).toFixed(0)} MiB in ${layerSizes.length} layers: ${pulled.mibPerSec.toFixed(0)} MiB/s (${pulled.ms.toFixed(0)} ms, manifest ${pulled.manifestMs.toFixed(0)} ms, first blob byte ${pulled.ttfbMs?.toFixed(0)} ms), stored after ${storedMs} ms; load ${load}`);
    for (const [name, s] of Object.entries(used)) console.log(`  ${name.padEnd(13)} ${s?.toFixed(2)} CPU s  ${(s / gib).toFixed(2)} s/GiB`);
    for (const line of threadLines('frontend', during.threadsAtStart, threadsAfter)) console.log(line);
    for (const line of during.lines) console.log(line);
    if (traceGc) {
      const lines = (await gcLines()).slice(gcBefore);
      const kinds = {};
      for (const l of lines) {
        const kind = gcKind(l);
        const ms = Number(/ ([\d.]+) \/ [\d.]+ ms/.exec(l)?.[1] ?? 0);
        kinds[kind] = { n: (kinds[kind]?.n ?? 0) + 1, ms: (kinds[kind]?.ms ?? 0) + ms };
      }
      console.log(`  frontend GCs in the window: ${Object.entries(kinds).map(([k, v]) => `${k} ${v.n}x ${v.ms.toFixed(0)} ms`).join(', ')}`);
      for (const l of lines.filter((x) => !x.includes('Scavenge')).slice(0, 6)) console.log(`    ${l.slice(0, 110)} … ${l.slice(-90)}`);
    }
    for (const line of lagLines) console.log(`  ${line}`);
    console.log(`  window ${(from / 1e6).toFixed(6)},${(to / 1e6).toFixed(6)} s CLOCK_MONOTONIC; frontend pid ${pids.frontend}`);
    const calls = Object.entries(redisAfter).map(([k, n]) => [k, n - (redisBefore[k] ?? 0)]).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    console.log(`  redis commands in the window (all processes, ${calls.reduce((a, [, n]) => a + n, 0)}): ${calls.map(([k, n]) => `${k} ${n}`).join(', ')}`);
    const all = Object.values(used).reduce((a, b) => a + (b ?? 0), 0);
    console.log(`  ${'all'.padEnd(13)} ${all.toFixed(2)} CPU s  ${(all / gib).toFixed(2)} s/GiB`);
    await proxy.stop();
    stopped = true;
    if (!profiling) return;
    const file = (await readdir(outDir)).filter((f) => f.endsWith('.cpuprofile')).sort().at(-1);
    if (!file) throw new Error(`no .cpuprofile in ${outDir}`);
    const { total, rows } = topSelf(JSON.parse(await readFile(path.join(outDir, file), 'utf8')), top, { from, to });
    console.log(`frontend profile ${path.join(outDir, file)}: ${(total / 1000).toFixed(2)} s sampled in the measured window (${from}-${to} µs, CLOCK_MONOTONIC); top ${top} by self time:`);
    for (const [label, ms, share] of rows) console.log(`  ${ms.toFixed(0).padStart(6)} ms ${(share * 100).toFixed(1).padStart(5)}%  ${label}`);
  } finally {
    await stopAll(stops);
    if (!argv.some((a) => a.startsWith('--out='))) await work.remove();
  }
}

runScript(main);
