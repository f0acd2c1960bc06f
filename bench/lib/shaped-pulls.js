'use strict';
// The `shaped` phase: cold pulls the way users feel them. The upstream sits behind the shaped link
// (bench/lib/link-shaper.js); per round the client pulls each image directly through the link, then
// through a fresh reference proxy and a fresh pullthrough (alternating), both fetching through the same
// link. Each pull records total time, time to first byte, the manifest's time, and what the upstream
// served for it (its own log: GETs per blob, bytes).
const { measureCpu } = require('./proc-cpu.js');
const { upstreamFigures } = require('./upstream-log.js');
const { verifyingPull } = require('./verifying-ceiling.js');
const { warmUp } = require('./warm-up.js');

/**
 * `ctx`: { cfg, link, upstreamLog, images, start(kind, host), orderOf(round), pull(url, image),
 * waitStored(proxy, image), log, verifying?() }. `verifying` starts the verifying write-through proxy
 * ceiling in front of the link (servers.js startVerifyingProxy): each round then also pulls the 60-layer
 * image through it, right after the direct pulls (samples `layers`/`verifying`, paired by round).
 * Resolves { samples: { [image]: { [target]: sample[] } }, shaper: { cpuSeconds, bytes } }.
 */
async function shapedPulls(ctx) {
  const { cfg, link, upstreamLog, images, start, orderOf, pull, waitStored, log } = ctx;
  const names = ['big', 'layers'];
  const samples = Object.fromEntries(names.map((n) => [n, { direct: [], reference: [], pullthrough: [] }]));
  const shaperCpu = await measureCpu({ shaper: link.pid });
  let linkBytes = 0;
  const measured = async (target, name, url, proxy) => {
    const image = images[name];
    const mark = await upstreamLog.mark();
    const p = await pull(url, image);
    if (proxy) await waitStored(proxy, image);
    const served = await upstreamLog.since(mark, { expect: image.blobs.map((b) => b.digest) });
    linkBytes += served.bytes;
    const sample = { ms: p.ms, ttfbMs: p.ttfbMs, manifestMs: p.manifestMs, mibPerSec: p.mibPerSec, bytes: p.bytes, ...upstreamFigures(served, image) };
    samples[name][target].push(sample);
    return sample;
  };
  const ceiling = ctx.verifying ? await ctx.verifying() : undefined;
  try {
    if (ceiling) for (const image of images.warmups) await verifyingPull(ceiling, image, pull); // process warm-up
    for (let r = 0; r < cfg.rounds; r++) {
      for (const name of names) await measured('direct', name, link.url);
      if (ceiling) {
        const p = await verifyingPull(ceiling, images.layers, pull);
        (samples.layers.verifying ??= []).push({ ms: p.ms, ttfbMs: p.ttfbMs, manifestMs: p.manifestMs, mibPerSec: p.mibPerSec, bytes: p.bytes });
      }
      for (const kind of orderOf(r)) {
        const proxy = await start(kind, link.host);
        try {
          await warmUp(pull, proxy.url, images.warmups); // process warm-up: cold means cache-cold
          for (const name of names) await measured(kind, name, proxy.url, proxy);
        } finally {
          await proxy.stop();
        }
      }
      for (const name of names) {
        const last = (t) => samples[name][t].at(-1);
        const verifying = name === 'layers' && ceiling ? `, verifying write-through proxy ${Math.round(last('verifying').ms)} ms (first byte ${Math.round(last('verifying').ttfbMs)} ms)` : '';
        log(`shaped round ${r + 1}/${cfg.rounds}: cold ${name} ${['direct', 'reference', 'pullthrough'].map((t) => `${t} ${Math.round(last(t).ms)} ms (first byte ${Math.round(last(t).ttfbMs)} ms, upstream ${last(t).upstreamBytesRatio.toFixed(2)}x)`).join(', ')}${verifying}`);
      }
    }
  } finally {
    await ceiling?.stop();
  }
  const cpu = await shaperCpu.stop();
  return { samples, shaper: { cpuSeconds: cpu.shaper, bytes: linkBytes } };
}

module.exports = { shapedPulls };
