'use strict';
// The `herd` phase: 20 clients at once on the uncached 40 MiB image, each proxy fetching through the
// shaped link; per round one direct pull of the image through the same link first (the target: the
// whole herd done within 1.1x of it). Upstream GETs per blob and bytes from the upstream's own log;
// RSS of every process of the target sampled every 50 ms from the herd's start until `settleMs` after.
// After the direct pull, the herd's ceiling: the same herd against a fresh fan-out server (one fetch per
// blob through the same link, each chunk written to every waiting client, nothing hashed or stored), then
// the verifying fan-out ceiling (the same, with each blob hashed, its last chunk held until verified, and
// written to a file and fsynced: what a cache that verifies and stores must do at least); their CPU over the
// herd alone is logged (the proxies' is counted until `settleMs` after).
const { sampleRss } = require('./rss.js');
const { measureCpu } = require('./proc-cpu.js');
const { upstreamFigures } = require('./upstream-log.js');
const { MiB } = require('./fixtures.js');
const { warmUp } = require('./warm-up.js');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `ctx`: { cfg, link, upstreamLog, image, warmups, start(kind, host), startFanout({ verify }), orderOf, pull, pidsOf, log }.
 * Resolves { direct: [ms], fanout: [round], fanoutVerifying: [round], reference: [round], pullthrough: [round] }.
 */
async function herdPhase(ctx) {
  const { cfg, link, upstreamLog, image, warmups, start, orderOf, pull, pidsOf, log } = ctx;
  const out = { direct: [], fanout: [], fanoutVerifying: [], reference: [], pullthrough: [] };
  const digests = image.blobs.map((b) => b.digest);
  const herdOf = async (url) => {
    const t0 = process.hrtime.bigint();
    const pulls = await Promise.all(Array.from({ length: cfg.herdClients }, () => pull(url, image)));
    const ttfb = pulls.map((p) => p.ttfbMs).sort((a, b) => a - b);
    return { wallMs: Number(process.hrtime.bigint() - t0) / 1e6, bytes: pulls.reduce((n, p) => n + p.bytes, 0), ttfbP50Ms: ttfb[Math.floor(ttfb.length / 2)], ttfbMaxMs: ttfb.at(-1) };
  };
  for (let r = 0; r < cfg.herdRounds; r++) {
    const direct = await pull(link.url, image);
    out.direct.push(direct.ms);
    // The two ceilings, each a fresh server: the fan-out (nothing hashed or stored), then the verifying fan-out.
    for (const [key, what, verify] of [['fanout', 'fan-out ceiling', false], ['fanoutVerifying', 'verifying fan-out ceiling', true]]) {
      const fanout = await ctx.startFanout({ verify });
      try {
        await warmUp(pull, fanout.url, warmups); // process warm-up, as for the proxies
        const mark = await upstreamLog.mark();
        const cpu = await measureCpu({ fanout: fanout.pid });
        const herd = await herdOf(fanout.url);
        const cpuSeconds = (await cpu.stop()).fanout;
        const figures = upstreamFigures(await upstreamLog.since(mark, { expect: digests }), image);
        const files = verify ? await fanout.settle() : undefined;
        if (files && (files.errors.length > 0 || files.stored < digests.length)) throw new Error(`herd ${what}: stored ${files.stored} of ${digests.length} blobs; ${files.errors.join('; ')}`);
        out[key].push({ ...herd, directMs: direct.ms, ...figures });
        log(`herd ${what}: ${herd.wallMs.toFixed(0)} ms (one direct pull ${direct.ms.toFixed(0)} ms), GETs per blob ${figures.gets.join('/')}, upstream bytes ${figures.upstreamBytesRatio.toFixed(2)}x, CPU ${cpuSeconds === undefined ? '?' : (cpuSeconds * 1000).toFixed(0)} ms during the herd`);
      } finally {
        await fanout.stop();
      }
    }
    for (const kind of orderOf(r)) {
      const proxy = await start(kind, link.host);
      try {
        const pids = await pidsOf(proxy);
        await warmUp(pull, proxy.url, warmups); // process warm-up, as for the cold pulls
        const mark = await upstreamLog.mark();
        const rss = sampleRss(pids);
        const cpu = await measureCpu(pids);
        const { wallMs, bytes, ttfbP50Ms, ttfbMaxMs } = await herdOf(proxy.url);
        await sleep(cfg.settleMs); // background work (distribution's store, our hydration job) counts too
        const memory = await rss.stop();
        const cpuSeconds = await cpu.stop();
        const figures = upstreamFigures(await upstreamLog.since(mark, { expect: digests }), image);
        out[kind].push({ wallMs, directMs: direct.ms, mibPerSec: bytes / MiB / (wallMs / 1000), ttfbP50Ms, ttfbMaxMs, bytes, cpu: cpuSeconds, ...figures, memory });
        if (proxy.adminUrl) log(`herd ${kind} clients: ${await clientCounts(proxy.adminUrl)}`);
        log(`herd ${kind}: ${wallMs.toFixed(0)} ms (one direct pull ${direct.ms.toFixed(0)} ms), GETs per blob ${figures.gets.join('/')}, upstream bytes ${figures.upstreamBytesRatio.toFixed(2)}x, RSS ${Object.entries(memory).map(([k, v]) => `${k} ${(v.peakRss / MiB).toFixed(1)} MiB`).join(', ')}, CPU ${Object.entries(cpuSeconds).map(([k, v]) => `${k} ${v === undefined ? '?' : (v * 1000).toFixed(0)} ms`).join(', ')}`);
      } finally {
        await proxy.stop();
      }
    }
  }
  return out;
}

/** How the frontend's blob clients were served in the herd (its /metrics): shared fetches tapped, read back, joined, fell behind. */
async function clientCounts(adminUrl) {
  try {
    const text = await (await fetch(`${adminUrl}/metrics`)).text();
    const value = (line) => Number(new RegExp(`^${line.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    return [
      `tapped ${value('pullthrough_blob_fetches_coalesced_total{how="tapped"}')}`,
      `read back ${value('pullthrough_blob_taps_read_back_total')}`,
      `joined ${value('pullthrough_blob_fetches_coalesced_total{how="joined"}')}`,
      `fell behind ${value('pullthrough_blob_clients_fell_behind_total')}`,
    ].join(', ');
  } catch (err) {
    return `metrics unavailable (${err.message})`;
  }
}

module.exports = { herdPhase };
