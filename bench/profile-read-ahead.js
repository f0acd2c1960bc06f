'use strict';
// `node bench/profile-read-ahead.js [--rounds=4] [--rtt=20] [--rate=100] [--ahead=0,3] [--warm-mib=128]`: what
// reading layers ahead of the client (PULLTHROUGH_BLOB_READ_AHEAD_LAYERS) does to a cold pull of the bench's
// 60-layer image through the shaped link (run `npm run build` first). The link is its own process, as in the
// bench. Per round: the image pulled directly through the link, then through a fresh pullthrough for each
// `--ahead` value (order alternating by round), each warmed up first (4 small images and one `--warm-mib`
// image, then 6.5 s for its hydration job to pass) so cold means cache-cold, not JIT-cold. Prints each
// pull's time and its ratio to the round's direct pull (and from the frontend's /metrics: layers read ahead,
// unasked ones, clients that fell behind their buffer), then the median ratio per value.
const { request } = require('undici');
const { tempDir } = require('@pullthrough/test-support');
const { MiB, pushRandomImage, sixtyLayerSizes } = require('./lib/fixtures.js');
const { pullImage } = require('./lib/pull-client.js');
const { startPullthrough, startShapingProxy, startUpstreamAndRedis } = require('./lib/servers.js');
const { median } = require('./lib/stats.js');
const { warmUp } = require('./lib/warm-up.js');
const { flagValue, runScript, stopAll } = require('./lib/script.js');

/** Read-ahead and fell-behind counters from the frontend's admin /metrics, as `name value` text. */
async function counters(adminUrl) {
  const text = await (await request(`${adminUrl}/metrics`)).body.text();
  const value = (pattern) => text.split('\n').filter((l) => pattern.test(l)).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
  return `read ahead ${value(/^pullthrough_blob_read_ahead_total\{outcome="started"/)} (unasked ${value(/^pullthrough_blob_read_ahead_total\{outcome="unasked"/)}), fell behind ${value(/^pullthrough_blob_clients_fell_behind_total/)}`;
}

async function main(argv) {
  const flag = (name, dflt) => flagValue(argv, name, dflt);
  const rounds = Number(flag('rounds', '4'));
  const aheads = flag('ahead', '0,3').split(',');
  const link = { bytesPerSecond: Number(flag('rate', '100')) * MiB, rttMs: Number(flag('rtt', '20')) };
  const work = await tempDir('bench-read-ahead-');
  const stops = [];
  try {
    const { upstream, redis, stop } = await startUpstreamAndRedis();
    stops.push(stop);
    const seed = `read-ahead-${Date.now()}`;
    const image = await pushRandomImage(upstream.url, work.path, { repository: 'bench/layers', tag: 'v1', layerSizes: sixtyLayerSizes(), seed });
    const warm = await pushRandomImage(upstream.url, work.path, { repository: 'bench/warm', tag: 'v1', layerSizes: [Number(flag('warm-mib', '128')) * MiB], seed });
    const small = [];
    for (let i = 0; i < 4; i++) small.push(await pushRandomImage(upstream.url, work.path, { repository: `bench/small${i}`, tag: 'v1', layerSizes: [4096], seed }));
    const pull = (url, im) => pullImage(url, im.repository, im.tag);
    const shaper = await startShapingProxy(upstream.url, { ...link, logDir: work.path });
    stops.push(() => shaper.stop());
    console.log(`60 layers, 129 MiB; link ${flag('rate', '100')} MiB/s, ${link.rttMs} ms RTT; read-ahead ${aheads.join(' vs ')} layers; ${rounds} rounds`);
    const ratios = Object.fromEntries(aheads.map((a) => [a, []]));
    for (let r = 0; r < rounds; r++) {
      const direct = await pull(shaper.url, image);
      const line = [`direct ${direct.ms.toFixed(0)} ms`];
      for (const ahead of r % 2 ? [...aheads].reverse() : aheads) {
        const proxy = await startPullthrough({ redisUrl: redis.url, upstreamHost: shaper.host, env: { PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: ahead } });
        try {
          await warmUp(pull, proxy.url, small);
          await pull(proxy.url, warm);
          await new Promise((resolve) => setTimeout(resolve, 6500));
          const p = await pull(proxy.url, image);
          ratios[ahead].push(direct.ms / p.ms);
          line.push(`ahead ${ahead}: ${p.ms.toFixed(0)} ms (${(direct.ms / p.ms).toFixed(2)} of direct, first byte ${p.ttfbMs.toFixed(0)} against ${direct.ttfbMs.toFixed(0)} ms; ${await counters(proxy.adminUrl)})`);
        } finally {
          await proxy.stop();
        }
      }
      console.log(`round ${r + 1}: ${line.join(', ')}`);
    }
    for (const ahead of aheads) console.log(`ahead ${ahead}: pullthrough / direct, median ${median(ratios[ahead]).toFixed(2)} (${ratios[ahead].map((x) => x.toFixed(2)).join(', ')})`);
  } finally {
    await stopAll(stops);
    await work.remove();
  }
}

runScript(main);
