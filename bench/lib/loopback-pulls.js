'use strict';
// The `pulls` phase: cold and warm pulls of the big and the 60-layer image on the loopback upstream,
// a fresh proxy per round and kind (alternating), and what they cost: CPU seconds of every process of
// the target (bench/lib/proc-cpu.js) per pull, what the upstream served for each cold pull (its log),
// and each process's peak RSS (VmHWM) over the proxy's life.
const { cpuDelta, cpuSnapshot, measureCpu, ownCpuSince } = require('./proc-cpu.js');
const { memoryOf } = require('./rss.js');
const { upstreamFigures } = require('./upstream-log.js');
const { cpuPerGiB } = require('./cost.js');
const { median } = require('./stats.js');
const { warmUp } = require('./warm-up.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The cold big image's samples of a round, in the order the round log shows them, and their labels there. */
const ROUND_LABELS = { direct: 'direct', verifying: 'verifying', store: 'write-through', reference: 'reference', pullthrough: 'pullthrough' };

/**
 * `ctx`: { cfg, upstream, upstreamLog, images, start(kind, host, options), orderOf, pull, pullVerified,
 * waitStored, samples, add(key, target, value), pidsOf(proxy), log, verifying?(image), writeThrough?() }: `verifying`
 * pulls an image through the verifying write-through proxy ceiling, and `writeThrough` stores the big image with no
 * client (the write-through ceiling: upstream GET, sha256, file, fsync; resolves MiB/s), once per round after the
 * direct pulls, right before the proxies (paired samples `cold-big`/`verifying` and `cold-big`/`store`).
 * Throughput samples go through `add`;
 * resolves { upstream: { [key]: { [target]: figures[] } }, cost: [...], peak: [...] }.
 */
async function loopbackPulls(ctx) {
  const { cfg, upstream, upstreamLog, images, start, orderOf, pull, pullVerified, waitStored, samples, add, pidsOf, log } = ctx;
  const served = {};
  const cost = [];
  const peak = [];
  const rounds = cfg.pullRounds ?? cfg.rounds;
  for (let r = 0; r < rounds; r++) {
    for (const name of ['big', 'layers']) add(`cold-${name}`, 'direct', (await pull(upstream.url, images[name])).mibPerSec);
    if (ctx.verifying) add('cold-big', 'verifying', (await ctx.verifying(images.big)).mibPerSec);
    if (ctx.writeThrough) add('cold-big', 'store', await ctx.writeThrough());
    for (const kind of orderOf(r)) {
      const proxy = await start(kind, upstream.host, { profile: true });
      try {
        const pids = await pidsOf(proxy);
        await warmUp(pull, proxy.url, images.warmups); // process warm-up (JIT, lazy modules, pools): cold means cache-cold
        for (const name of ['big', 'layers']) {
          const image = images[name];
          const mark = await upstreamLog.mark();
          const t0 = Date.now();
          const cpu = await measureCpu(pids);
          const cold = await pull(proxy.url, image);
          add(`cold-${name}`, kind, cold.mibPerSec);
          await waitStored(proxy, image);
          const got = await upstreamLog.since(mark, { expect: image.blobs.map((b) => b.digest) });
          ((served[`cold-${name}`] ??= {})[kind] ??= []).push(upstreamFigures(got, image));
          // The miss's whole cost: storing it and any background work it starts (our hydration job
          // runs PULLTHROUGH_HYDRATION_DELAY_MS after the pull), the same window for both proxies.
          await sleep(Math.max(0, cfg.coldSettleMs - (Date.now() - t0)));
          cost.push({ kind, image: name, temperature: 'cold', round: r, bytes: cold.bytes, cpu: await cpu.stop() });
          // Warm: cfg.warmPulls pulls back to back, each a throughput sample, in one CPU window (one pull of a few
          // hundred ms of CPU swings by a third between rounds); the first pull's own CPU is kept for its ratio.
          const before = await cpuSnapshot(pids);
          let first;
          let bytes = 0;
          for (let i = 0; i < Math.max(1, cfg.warmPulls ?? 1); i++) {
            const client = process.cpuUsage();
            const again = await pull(proxy.url, image);
            // The bench client's share of a core over the pull (this process pulls): at about 1, the client sets the pace.
            add(`warm-${name}-client`, kind, (ownCpuSince(client) * 1000) / again.ms);
            bytes += again.bytes;
            if (i === 0) first = { bytes: again.bytes, cpu: cpuDelta(before, await cpuSnapshot(pids)) };
            add(`warm-${name}`, kind, again.mibPerSec);
          }
          cost.push({ kind, image: name, temperature: 'warm', round: r, bytes, cpu: cpuDelta(before, await cpuSnapshot(pids)), first });
          // Once per proxy and image, unmeasured: the bytes served are the right ones.
          if (r === 0) await pullVerified(proxy.url, image);
        }
        const memory = {};
        for (const [proc, pid] of Object.entries(pids)) memory[proc] = (await memoryOf(pid))?.hwm;
        peak.push({ kind, round: r, memory });
      } finally {
        await proxy.stop();
      }
    }
    const last = (key, k) => samples[key][k].at(-1);
    const roundWarm = (k, key = 'warm-big') => median(samples[key][k].slice(-Math.max(1, cfg.warmPulls ?? 1)));
    const fmt2 = (v) => (typeof v === 'number' ? v.toFixed(2) : '–');
    const fmt = (v) => (typeof v === 'number' ? v.toFixed(0) : '–');
    // This round's CPU s/GiB per process (cold and warm, each image), so `--only=pulls` shows the cost too.
    const costOf = (kind, temperature, image) => {
      const entry = cost.find((e) => e.kind === kind && e.round === r && e.image === image && e.temperature === temperature);
      if (!entry) return '–';
      const each = Object.keys(entry.cpu).map((p) => `${p} ${fmt2(cpuPerGiB(entry, [p]))}`);
      return `${fmt2(cpuPerGiB(entry))} (${each.join(', ')})`;
    };
    for (const image of ['big', 'layers']) {
      for (const kind of ['reference', 'pullthrough']) log(`pulls round ${r + 1}/${rounds}: CPU s/GiB, ${image} image, ${kind}: cold ${costOf(kind, 'cold', image)}; warm ${costOf(kind, 'warm', image)}`);
    }
    log(`pulls round ${r + 1}/${rounds}: cold big ${Object.entries(ROUND_LABELS).filter(([k]) => samples['cold-big'][k]).map(([k, label]) => `${label} ${fmt(last('cold-big', k))}`).join(', ')}; warm big (median of the round's ${Math.max(1, cfg.warmPulls ?? 1)}) ref ${fmt(roundWarm('reference'))}, ours ${fmt(roundWarm('pullthrough'))} MiB/s (the client's CPU: ref ${fmt2(roundWarm('reference', 'warm-big-client'))}, ours ${fmt2(roundWarm('pullthrough', 'warm-big-client'))} cores); upstream bytes of the cold big pull: ref ${served['cold-big'].reference.at(-1).upstreamBytesRatio.toFixed(2)}x, ours ${served['cold-big'].pullthrough.at(-1).upstreamBytesRatio.toFixed(2)}x`);
  }
  return { upstream: served, cost, peak };
}

module.exports = { loopbackPulls };
