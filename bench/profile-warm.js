'use strict';
// `node bench/profile-warm.js [--mib=512] [--pulls=6] [--targets=reference,pullthrough] [--fresh] [--perf=<dir>]
// [--node-arg=<flag>] [--show-gc] [--gap=<ms>]` (after a build): warm pulls of one stored image, the targets alternating pull by
// pull, each pull's throughput and the CPU seconds (user + system, every process of the target) it cost, with each
// process's user and system time and minor page faults, and the client's (this process's) CPU and its share of a
// core over the pull (at about 1 the client sets the pace). Both
// targets are started once and fill their stores with one cold pull (unmeasured); the CPU window of a warm pull
// is its own start to end. `--fresh`: as `npm run bench` does, fresh targets for every pull (a cold pull, 8 s,
// then the measured warm pull: the first warm pull of a process, its code not yet optimized). `--perf=<dir>`:
// `perf record -g` of the frontend during each pull. `--gap=<ms>`: idle this long before each measured pull. With `--node-arg=--trace-gc`: the frontend's collections
// per pull (`--show-gc`: each full one's line).
const path = require('node:path');
const { spawn } = require('node:child_process');
const { MiB, pushRandomImage } = require('./lib/fixtures.js');
const { pullImage } = require('./lib/pull-client.js');
const { startReferenceProxy, startPullthrough, startUpstreamAndRedis } = require('./lib/servers.js');
const { readFile } = require('node:fs/promises');
const { measureCpu, ownCpuSince, statTimes } = require('./lib/proc-cpu.js');
const { median } = require('./lib/stats.js');
const { frontendGcLines, gcKind } = require('./lib/gc-trace.js');
const { flagValue, runScript } = require('./lib/script.js');
const { tempDir } = require('@pullthrough/test-support');

const flag = (name, fallback) => flagValue(process.argv, name, fallback);
const nodeArgs = process.argv.filter((a) => a.startsWith('--node-arg=')).map((a) => a.slice('--node-arg='.length));

/** `--perf=<dir>`: `perf record -g` of the pullthrough frontend during each measured pull (`<dir>/pull-<i>.data`). */
function perfOf(proxy, i) {
  const dir = flag('perf', '');
  if (!dir || !proxy.pids.frontend) return undefined;
  const perf = spawn('perf', ['record', '-F', '1999', '-g', '-p', String(proxy.pids.frontend), '-o', path.join(dir, `pull-${i}.data`)], { stdio: 'ignore' });
  perf.on('error', (err) => console.error(`perf: ${err.message}`));
  return perf;
}

/** { [name]: { user, sys, faults } } so far (CPU seconds, minor page faults) of `{ [name]: pid }`. */
async function statOf(pids) {
  const out = {};
  for (const [name, pid] of Object.entries(pids)) {
    out[name] = statTimes(await readFile(`/proc/${pid}/stat`, 'utf8'));
  }
  return out;
}
/** `name user/sys ms, N faults` for each process between two statOf calls. */
function statLine(before, after) {
  const ms = (s) => (s * 1000).toFixed(0);
  return Object.keys(after)
    .map((k) => `${k} ${ms(after[k].user - before[k].user)}/${ms(after[k].sys - before[k].sys)} ms, ${after[k].faults - before[k].faults} faults`)
    .join('; ');
}

const gcSeen = new Map();
/** With `--node-arg=--trace-gc`: the frontend's collections since the last call, by kind. */
async function gcCounts(proxy) {
  if (!proxy.dataDir || !nodeArgs.includes('--trace-gc')) return undefined;
  const lines = await frontendGcLines(proxy);
  const fresh = lines.slice(gcSeen.get(proxy) ?? 0);
  gcSeen.set(proxy, lines.length);
  const counts = {};
  for (const l of fresh) {
    const kind = gcKind(l);
    counts[kind] = (counts[kind] ?? 0) + 1;
    if (kind !== 'Scavenge' && process.argv.includes('--show-gc')) console.log(l);
  }
  return `, GCs ${JSON.stringify(counts)}`;
}

async function main() {
  const mib = Number(flag('mib', '512'));
  const pulls = Number(flag('pulls', '6'));
  const targets = flag('targets', 'reference,pullthrough').split(',');
  const gapMs = Number(flag('gap', '0'));
  if (!Number.isFinite(gapMs) || gapMs < 0) throw new Error(`--gap: expected milliseconds >= 0, got "${flag('gap')}"`);
  const { upstream, redis, stop } = await startUpstreamAndRedis();
  const work = await tempDir('bench-warm-');
  const started = [];
  try {
    const image = await pushRandomImage(upstream.url, work.path, { repository: 'bench/warm', tag: 'v1', layerSizes: [mib * MiB], seed: 7 });
    const host = new URL(upstream.url).host;
    const fresh = process.argv.includes('--fresh');
    const startAll = async () => {
      for (const kind of targets) {
        const proxy = kind === 'reference' ? await startReferenceProxy(upstream.url) : await startPullthrough({ redisUrl: redis.url, upstreamHost: host, nodeArgs });
        started.push(proxy);
        await pullImage(proxy.url, image.repository, image.tag); // cold: fills the store
      }
      await new Promise((r) => setTimeout(r, 8000)); // the cold pulls' background work (hydration) is done
      for (const proxy of started) await gcCounts(proxy); // from here on
    };
    await startAll();
    const results = Object.fromEntries(targets.map((k) => [k, []]));
    for (let i = 0; i < pulls; i++) {
      if (fresh && i > 0) {
        for (const p of started.splice(0)) await p.stop();
        await startAll();
      }
      for (const proxy of i % 2 ? [...started].reverse() : started) {
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        const stat = await statOf(proxy.pids);
        const cpu = await measureCpu(proxy.pids);
        const perf = perfOf(proxy, i);
        if (perf) await new Promise((r) => setTimeout(r, 1000)); // perf attached
        const client = process.cpuUsage();
        const pull = await pullImage(proxy.url, image.repository, image.tag);
        const clientS = ownCpuSince(client);
        const seconds = await cpu.stop();
        const split = statLine(stat, await statOf(proxy.pids));
        const gc = await gcCounts(proxy);
        if (perf && perf.exitCode === null && perf.pid !== undefined) await new Promise((r) => (perf.once('exit', r), perf.kill('SIGINT')));
        const total = Object.values(seconds).reduce((a, b) => a + (b ?? 0), 0);
        results[proxy.name].push({ mibPerSec: pull.mibPerSec, cpuPerGiB: total / (pull.bytes / 1024 / MiB) });
        console.log(`${proxy.name}: ${pull.mibPerSec.toFixed(0)} MiB/s, ${(total / (pull.bytes / 1024 / MiB)).toFixed(3)} CPU s/GiB (${Object.entries(seconds).map(([k, v]) => `${k} ${((v ?? 0) * 1000).toFixed(0)} ms`).join(', ')})${gc ?? ''}; user/sys: ${split}; client (this process) ${(clientS * 1000).toFixed(0)} ms, ${((clientS * 1000 / pull.ms) * 100).toFixed(0)}% of the pull`);
      }
    }
    for (const [k, rs] of Object.entries(results)) console.log(`${k}: median ${median(rs.map((r) => r.mibPerSec)).toFixed(0)} MiB/s, ${median(rs.map((r) => r.cpuPerGiB)).toFixed(3)} CPU s/GiB`);
  } finally {
    for (const p of started) await p.stop();
    await work.remove();
    await stop();
  }
}

runScript(main);
