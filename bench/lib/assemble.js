'use strict';
// The results object of a whole run (rows, targets, context, raw samples) from the phases' samples;
// rendered by report.js.
const os = require('node:os');
const { summarize, median, ratio, pairedRatio } = require('./stats.js');
const { fmtNumber } = require('./report.js');
const { MiB } = require('./fixtures.js');

const MIB_S = 'MiB/s';

function assemble({ cfg, samples, herd, herd3 = [], manifests, images, startedAt, argv, loadAtStart }) {
  const s = (key, target) => summarize(samples[key]?.[target] ?? []);
  // Ratios of targets measured back to back in each round: the median of per-round ratios.
  const paired = (key, a, b) => pairedRatio(samples[key]?.[a], samples[key]?.[b]);
  const row = (scenario, key, withDirect) => ({
    scenario,
    metric: 'throughput',
    unit: MIB_S,
    chart: true,
    ...(withDirect ? { direct: s(key, 'direct') } : {}),
    reference: s(key, 'reference'),
    pullthrough: s(key, 'pullthrough'),
    ratio: paired(key, 'pullthrough', 'reference'),
  });
  const herdCell = (kind, pick) => summarize(herd[kind].map(pick));
  const herdRow = (metric, unit, pick, noRatio) => ({ scenario: `herd: ${cfg.herdClients} clients, uncached ${fmtNumber(images.herd.totalBytes / MiB)} MiB`, metric, unit, reference: herdCell('reference', pick), pullthrough: herdCell('pullthrough', pick), ...(noRatio ? { noRatio } : {}) });
  const bigLabel = `${fmtNumber(images.big.totalBytes / MiB, 0)} MiB, 1 layer`;
  const layersLabel = `${images.layers.layerCount} layers, ${fmtNumber(images.layers.totalBytes / MiB, 0)} MiB`;
  const mcell = (c, kind, pick) => summarize(manifests[c][kind].map(pick));
  const mpaired = (c, pick) => pairedRatio(manifests[c].pullthrough.map(pick), manifests[c].reference.map(pick));
  const manifestRows = cfg.manifestConnections.flatMap((c) => [
    ['requests/s', '', (m) => m.rps],
    ['latency p50', 'ms', (m) => m.p50],
    ['latency p99', 'ms', (m) => m.p99],
  ].map(([metric, unit, pick]) => ({ scenario: `manifest by tag, hits, ${c} connections`, metric, unit, reference: mcell(c, 'reference', pick), pullthrough: mcell(c, 'pullthrough', pick), ratio: mpaired(c, pick) })));
  const rows = [
    { scenario: 'ceiling: node file server on loopback', metric: 'throughput', unit: MIB_S, direct: s('loopback', 'ceiling'), noRatio: true },
    { scenario: 'ceiling: sha256, one core', metric: 'throughput', unit: MIB_S, direct: s('sha256', 'ceiling'), noRatio: true },
    { scenario: `ceiling: write-through, no client (upstream GET + sha256 + file + fsync), ${bigLabel}`, metric: 'throughput', unit: MIB_S, direct: s('store', 'ceiling'), noRatio: true },
    { scenario: `ceiling: bare node proxy, cold path, ${bigLabel}`, metric: 'throughput', unit: MIB_S, direct: s('pipe', 'ceiling'), noRatio: true },
    row(`cold pull, ${bigLabel}`, 'cold-big', true),
    row(`warm pull, ${bigLabel}`, 'warm-big', false),
    row(`cold pull, ${layersLabel}`, 'cold-layers', true),
    row(`warm pull, ${layersLabel}`, 'warm-layers', false),
    herdRow('upstream GETs per blob (max)', '', (h) => h.getsPerBlobMax, true),
    herdRow('upstream GETs per blob (mean)', '', (h) => h.getsPerBlobMean, true),
    herdRow('upstream bytes / image size', '', (h) => h.upstreamBytesRatio, true),
    herdRow('all clients done', 'ms', (h) => h.wallMs),
    herdRow('aggregate throughput', MIB_S, (h) => h.mibPerSec),
    herdRow('peak RSS, registry / frontend', 'MiB', (h) => (h.memory.registry ?? h.memory.frontend).peakRss / MiB),
    { ...herdRow('peak RSS, hydrator', 'MiB', () => undefined, true), pullthrough: herdCell('pullthrough', (h) => h.memory.hydrator.peakRss / MiB) },
    ...herd3Rows(cfg, herd3, images),
    ...manifestRows,
  ];
  const med = (key, t) => median(samples[key]?.[t] ?? []);
  const pct = (v) => (v === undefined ? '–' : `${fmtNumber(v, 2)}`);
  const target = (name, targetText, actual, met) => ({ name, target: targetText, actual, met: Boolean(met) });
  const warmRatio = paired('warm-big', 'pullthrough', 'reference');
  const warmCeiling = ratio(med('warm-big', 'pullthrough'), med('loopback', 'ceiling'));
  const coldBig = paired('cold-big', 'pullthrough', 'direct');
  const coldLayers = paired('cold-layers', 'pullthrough', 'direct');
  const herdMax = Math.max(...herd.pullthrough.map((h) => h.getsPerBlobMax));
  const herdMin = Math.min(...herd.pullthrough.map((h) => h.getsPerBlobMax));
  const high = Math.max(...cfg.manifestConnections);
  const low = Math.min(...cfg.manifestConnections);
  const mRatio = mpaired(high, (m) => m.rps);
  const p99 = median(manifests[high].pullthrough.map((m) => m.p99));
  const p99low = median(manifests[low].pullthrough.map((m) => m.p99));
  const coldPipe = ratio(med('cold-big', 'pullthrough'), med('pipe', 'ceiling'));
  const rssFront = Math.max(...herd.pullthrough.map((h) => h.memory.frontend.peakRss)) / MiB;
  const rssHyd = Math.max(...herd.pullthrough.map((h) => h.memory.hydrator.peakRss)) / MiB;
  const info = [
    { name: 'warm pull (big image), pullthrough / reference as a ratio of medians (unpaired)', actual: pct(ratio(med('warm-big', 'pullthrough'), med('warm-big', 'reference'))) },
    { name: 'cold pull (big image), pullthrough / direct as a ratio of medians (unpaired)', actual: pct(ratio(med('cold-big', 'pullthrough'), med('cold-big', 'direct'))) },
    { name: 'cold pull (big image), pullthrough / bare node proxy', actual: pct(coldPipe) },
    { name: 'cold pull (big image), bare node proxy / direct from upstream', actual: pct(ratio(med('pipe', 'ceiling'), med('cold-big', 'direct'))) },
    { name: 'cold pull (big image), reference / direct from upstream', actual: pct(ratio(med('cold-big', 'reference'), med('cold-big', 'direct'))) },
    { name: 'write-through ceiling / direct from upstream (the most a write-through miss can reach)', actual: pct(ratio(med('store', 'ceiling'), med('cold-big', 'direct'))) },
    { name: 'cold pull (big image), pullthrough / write-through ceiling', actual: pct(ratio(med('cold-big', 'pullthrough'), med('store', 'ceiling'))) },
  ];
  const targets = [
    target('warm blob throughput, pullthrough / reference (big image)', '>= 1.0', pct(warmRatio), warmRatio >= 1),
    target('warm blob throughput, pullthrough / loopback ceiling', '>= 0.7', pct(warmCeiling), warmCeiling >= 0.7),
    target('cold pull, pullthrough / direct from upstream (big image)', '>= 0.9', pct(coldBig), coldBig >= 0.9),
    target('cold pull, pullthrough / direct from upstream (60 layers)', '>= 0.9', pct(coldLayers), coldLayers >= 0.9),
    target('herd: upstream GETs per blob, every blob, every round', 'exactly 1', herdMin === herdMax ? String(herdMax) : `${herdMin}..${herdMax}`, herdMin === 1 && herdMax === 1),
    target(`manifest hits requests/s, pullthrough / reference (${high} connections)`, '>= 1.0', pct(mRatio), mRatio >= 1),
    target(`manifest hits p99 latency, pullthrough (${high} connections)`, '< 10 ms', `${fmtNumber(p99)} ms`, p99 < 10),
    target(`manifest hits p99 latency, pullthrough (${low} connections)`, '< 10 ms', `${fmtNumber(p99low)} ms`, p99low < 10),
    target('peak RSS during the herd, frontend', '<= 200 MiB', `${fmtNumber(rssFront)} MiB`, rssFront <= 200),
    target('peak RSS during the herd, hydrator', '<= 200 MiB', `${fmtNumber(rssHyd)} MiB`, rssHyd <= 200),
  ];
  const h3Max = Math.max(...herd3.map((h) => h.getsPerBlobMax));
  const h3Min = Math.min(...herd3.map((h) => h.getsPerBlobMax));
  if (herd3.length) targets.push(target('herd3: upstream GETs per blob over 3 frontend processes, every blob, every round', 'exactly 1', h3Min === h3Max ? String(h3Max) : `${h3Min}..${h3Max}`, h3Min === 1 && h3Max === 1));
  const cpus = os.cpus();
  return {
    meta: {
      date: new Date(startedAt).toISOString().replace(/\.\d+Z$/, 'Z'),
      durationSeconds: Math.round((Date.now() - startedAt) / 1000),
      machine: `${cpus.length} cores (${cpus[0]?.model?.trim() ?? 'unknown'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
      node: process.version,
      command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
      quick: cfg.quick,
      rounds: cfg.rounds,
      herdRounds: cfg.herdRounds,
      manifestRounds: cfg.manifestRounds,
      parallel: cfg.parallel,
      sizes: `big ${images.big.totalBytes} B; ${images.layers.layerCount} layers ${images.layers.totalBytes} B; herd ${images.herd.totalBytes} B (${images.herd.layerCount} layers); manifests ${cfg.manifestSeconds} s x ${cfg.manifestRounds} rounds per proxy and connection count`,
      notes: [
        'Every proxy and image is also pulled once with every blob digest checked (unmeasured).',
        'Cold: a fresh proxy (empty storage) per round, warmed up by pulling an unrelated 4 KiB image first (so cold means cache-cold, not JIT-cold); warm: the same proxy right after, once the image is stored.',
        'Herd: each proxy behind a byte-counting proxy; RSS sampled every 50 ms from the herd start until 7 s after (background work included).',
        `herd3: ${cfg.herd3Clients} clients spread over 3 frontend processes with 2 hydrator processes (one filesystem store, one Redis), the upstream behind a ${fmtNumber(cfg.herd3BytesPerSecond / MiB)} MiB/s link shared by every body; a fresh deployment per round; each client gets the manifest, then (once every client has it) all blobs at once, every digest verified. Leader: the client whose first byte came first, per blob; followers: the others. Time to first byte is from each request.`,
        'Both proxies log at info level, distribution with its access log off.',
        `1-minute load average at start / end: ${fmtNumber(loadAtStart, 1)} / ${fmtNumber(os.loadavg()[0], 1)} on ${os.cpus().length} cores (anything above ~3 means other work shared the machine: compare ratios within the run, not absolute figures).`,
      ],
    },
    ceiling: { loopback: summarize(samples.loopback.ceiling), sha256: summarize(samples.sha256.ceiling), writeThrough: summarize(samples.store.ceiling), nodeProxy: summarize(samples.pipe.ceiling) },
    rows,
    targets,
    info,
    raw: { samples, herd, manifests },
  };
}

/** Rows of the herd3 scenario: this cache only (the reference proxy has no scale-out). */
function herd3Rows(cfg, herd3, images) {
  if (herd3.length === 0) return [];
  const scenario = `herd3: ${cfg.herd3Clients} clients over 3 frontends + 2 hydrators, uncached ${fmtNumber(images.herd.totalBytes / MiB)} MiB, upstream ${fmtNumber(cfg.herd3BytesPerSecond / MiB)} MiB/s`;
  const row = (metric, unit, pick) => ({ scenario, metric, unit, pullthrough: summarize(herd3.map(pick)), noRatio: true });
  return [
    row('all clients done', 'ms', (h) => h.wallMs),
    row('time to first byte, leader (median of blobs)', 'ms', (h) => h.leaderTtfbMs),
    row('time to first byte, followers p50', 'ms', (h) => h.followerTtfbP50Ms),
    row('time to first byte, followers p95', 'ms', (h) => h.followerTtfbP95Ms),
    row('upstream GETs per blob (max)', '', (h) => h.getsPerBlobMax),
    row('followers whose first byte came after the upstream body ended', '%', (h) => 100 * h.followersAfterUpstreamEnd),
  ];
}

module.exports = { assemble, herd3Rows };
