'use strict';
// The results object of a whole run (rows, targets, context, raw samples) from the phases' samples;
// rendered by report.js.
const os = require('node:os');
const { summarize, median, ratio, pairedRatio } = require('./stats.js');
const { fmtNumber } = require('./report.js');
const { MiB } = require('./fixtures.js');
const { COST_COLUMNS, costRows, GiB } = require('./cost.js');
const { targetsOf, verifyingRatios } = require('./targets.js');

const MIB_S = 'MiB/s';

/** Rows of a shaped-link scenario (big or layers): the figures of each pull, direct/reference/pullthrough. */
function shapedRows(shaped, name, label, link) {
  const s = shaped?.samples?.[name];
  if (!s) return [];
  const scenario = `shaped link (${fmtNumber(link.bytesPerSecond / MiB)} MiB/s, ${link.rttMs} ms RTT): cold pull, ${label}`;
  const cell = (target, pick) => summarize((s[target] ?? []).map(pick));
  const row = (metric, unit, pick, { direct = true, noRatio = false } = {}) => ({
    scenario,
    metric,
    unit,
    ...(direct ? { direct: cell('direct', pick) } : {}),
    reference: cell('reference', pick),
    pullthrough: cell('pullthrough', pick),
    ratio: noRatio ? undefined : pairedRatio(s.pullthrough.map(pick), s.reference.map(pick)),
    ...(noRatio ? { noRatio } : {}),
  });
  return [
    row('total time', 'ms', (p) => p.ms),
    row('time to first byte (pull start to first blob byte)', 'ms', (p) => p.ttfbMs),
    row('manifest', 'ms', (p) => p.manifestMs),
    { ...row('throughput', MIB_S, (p) => p.mibPerSec), chart: true },
    row('upstream GETs per blob (max)', '', (p) => p.getsPerBlobMax, { noRatio: true }),
    row('upstream bytes / image size', '', (p) => p.upstreamBytesRatio, { noRatio: true }),
  ];
}

function assemble({ cfg, samples, loopback = { upstream: {}, cost: [], peak: [] }, shaped, herd, herd3 = [], manifests, images, startedAt, argv, loadAtStart }) {
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
  const served = (scenario, key) =>
    [['upstream GETs per blob (max)', (f) => f.getsPerBlobMax], ['upstream bytes / image size', (f) => f.upstreamBytesRatio]].map(([metric, pick]) => ({
      scenario,
      metric,
      unit: '',
      reference: summarize((loopback.upstream[key]?.reference ?? []).map(pick)),
      pullthrough: summarize((loopback.upstream[key]?.pullthrough ?? []).map(pick)),
      noRatio: true,
    }));
  const link = cfg.link;
  const linkText = `${fmtNumber(link.bytesPerSecond / MiB)} MiB/s, ${link.rttMs} ms RTT`;
  const herdCell = (kind, pick) => summarize((herd[kind] ?? []).map(pick));
  const herdScenario = `herd over the shaped link (${linkText}): ${cfg.herdClients} clients, uncached ${fmtNumber(images.herd.totalBytes / MiB)} MiB`;
  const herdRow = (metric, unit, pick, noRatio) => ({ scenario: herdScenario, metric, unit, reference: herdCell('reference', pick), pullthrough: herdCell('pullthrough', pick), ...(noRatio ? { noRatio } : {}) });
  const bigLabel = `${fmtNumber(images.big.totalBytes / MiB, 0)} MiB, 1 layer`;
  const layersLabel = `${images.layers.layerCount} layers, ${fmtNumber(images.layers.totalBytes / MiB, 0)} MiB`;
  const mcell = (c, kind, pick) => summarize(manifests[c][kind].map(pick));
  const mpaired = (c, pick) => pairedRatio(manifests[c].pullthrough.map(pick), manifests[c].reference.map(pick));
  const manifestMetrics = [
    ['requests/s', '', (m) => m.rps],
    ['latency p50', 'ms', (m) => m.p50],
    ['latency p99', 'ms', (m) => m.p99],
  ];
  const manifestRows = cfg.manifestConnections.flatMap((c) => [
    ...((manifests[c].ceiling ?? []).length
      ? manifestMetrics.map(([metric, unit, pick]) => ({ scenario: `ceiling: bare node server, one fixed manifest, ${c} connections`, metric, unit, direct: mcell(c, 'ceiling', pick), noRatio: true }))
      : []),
    ...manifestMetrics.map(([metric, unit, pick]) => ({ scenario: `manifest by tag, hits, ${c} connections`, metric, unit, reference: mcell(c, 'reference', pick), pullthrough: mcell(c, 'pullthrough', pick), ratio: mpaired(c, pick) })),
  ]);
  const rows = [
    { scenario: 'ceiling: node file server on loopback', metric: 'throughput', unit: MIB_S, direct: s('loopback', 'ceiling'), noRatio: true },
    { scenario: 'ceiling: sha256, one core', metric: 'throughput', unit: MIB_S, direct: s('sha256', 'ceiling'), noRatio: true },
    { scenario: `ceiling: write-through, no client (upstream GET + sha256 + file + fsync), ${bigLabel}`, metric: 'throughput', unit: MIB_S, direct: s('store', 'ceiling'), noRatio: true },
    { scenario: `ceiling: bare node proxy, cold path, ${bigLabel}`, metric: 'throughput', unit: MIB_S, direct: s('pipe', 'ceiling'), noRatio: true },
    { scenario: `ceiling: write-through proxy with client (verifying: sha256, 1 MiB writes, last chunk held until verified; fsync after the client), ${bigLabel}`, metric: 'throughput', unit: MIB_S, direct: s('verify', 'ceiling'), noRatio: true },
    row(`loopback: cold pull, ${bigLabel}`, 'cold-big', true),
    ...served(`loopback: cold pull, ${bigLabel}`, 'cold-big'),
    row(`loopback: warm pull, ${bigLabel}`, 'warm-big', false),
    row(`loopback: cold pull, ${layersLabel}`, 'cold-layers', true),
    ...served(`loopback: cold pull, ${layersLabel}`, 'cold-layers'),
    row(`loopback: warm pull, ${layersLabel}`, 'warm-layers', false),
    ...shapedRows(shaped, 'big', bigLabel, link),
    ...shapedRows(shaped, 'layers', layersLabel, link),
    herdRow('upstream GETs per blob (max)', '', (h) => h.getsPerBlobMax, true),
    herdRow('upstream GETs per blob (mean)', '', (h) => h.getsPerBlobMean, true),
    herdRow('upstream bytes / image size', '', (h) => h.upstreamBytesRatio, true),
    { ...herdRow('all clients done (direct: one pull through the link)', 'ms', (h) => h.wallMs), direct: summarize(herd.direct ?? []) },
    ...((herd.fanout ?? []).length ? [{ scenario: herdScenario, metric: 'herd ceiling: one fetch fanned out, no hash, no store: all clients done', unit: 'ms', direct: herdCell('fanout', (h) => h.wallMs), noRatio: true }] : []),
    ...((herd.fanoutVerifying ?? []).length ? [{ scenario: herdScenario, metric: 'herd ceiling: one fetch fanned out, each blob verified and stored: all clients done', unit: 'ms', direct: herdCell('fanoutVerifying', (h) => h.wallMs), noRatio: true }] : []),
    herdRow('time to first byte, p50 of clients', 'ms', (h) => h.ttfbP50Ms),
    herdRow('aggregate throughput', MIB_S, (h) => h.mibPerSec),
    herdRow('peak RSS, registry / frontend', 'MiB', (h) => (h.memory.registry ?? h.memory.frontend).peakRss / MiB),
    { ...herdRow('peak RSS, hydrator', 'MiB', () => undefined, true), pullthrough: herdCell('pullthrough', (h) => h.memory.hydrator.peakRss / MiB) },
    ...herd3Rows(cfg, herd3, images),
    ...manifestRows,
  ];
  const med = (key, t) => median(samples[key]?.[t] ?? []);
  const pct = (v) => (v === undefined ? '–' : `${fmtNumber(v, 2)}`);
  const verifying = verifyingRatios(samples);
  const info = [
    { name: 'cold pull on loopback (big image), pullthrough / direct, paired', actual: pct(paired('cold-big', 'pullthrough', 'direct')) },
    { name: 'cold pull on loopback (60 layers), pullthrough / direct, paired', actual: pct(paired('cold-layers', 'pullthrough', 'direct')) },
    { name: 'warm pull (big image), pullthrough / reference as a ratio of medians (unpaired)', actual: pct(ratio(med('warm-big', 'pullthrough'), med('warm-big', 'reference'))) },
    { name: 'cold pull (big image), pullthrough / bare node proxy', actual: pct(ratio(med('cold-big', 'pullthrough'), med('pipe', 'ceiling'))) },
    { name: 'cold pull (big image), bare node proxy / direct from upstream', actual: pct(ratio(med('pipe', 'ceiling'), med('cold-big', 'direct'))) },
    { name: 'cold pull (big image), reference / direct from upstream', actual: pct(ratio(med('cold-big', 'reference'), med('cold-big', 'direct'))) },
    { name: 'write-through ceiling / direct from upstream (the most a write-through miss can reach)', actual: pct(ratio(med('store', 'ceiling'), med('cold-big', 'direct'))) },
    ...(verifying
      ? [
          { name: `verifying write-through proxy with client / reference, cold pull (big image, ${verifying.how}; below 1.0, cold >= 1.0 of the reference is out of reach here)`, actual: pct(verifying.of('verifying', 'reference')) },
          { name: `pullthrough / verifying write-through proxy with client, cold pull (big image, ${verifying.how})`, actual: pct(verifying.of('pullthrough', 'verifying')) },
          { name: `verifying write-through proxy with client / direct from upstream, cold pull (big image, ${verifying.how})`, actual: pct(verifying.of('verifying', 'direct')) },
        ]
      : []),
    { name: 'verifying write-through proxy with client / bare node proxy (paired by round)', actual: pct(pairedRatio(samples.verify?.ceiling, samples.pipe?.ceiling)) },
  ];
  if ((herd.fanout ?? []).length) {
    const fanout = herd.fanout;
    info.push({ name: 'herd fan-out ceiling all done / one direct pull through the link (paired by round; above 1.1, the herd target is out of reach here)', actual: pct(median(fanout.map((h) => h.wallMs / h.directMs))) });
    info.push({ name: 'herd all done, pullthrough / herd fan-out ceiling (paired by round)', actual: pct(pairedRatio((herd.pullthrough ?? []).map((h) => h.wallMs), fanout.map((h) => h.wallMs))) });
    info.push({ name: 'herd fan-out ceiling: upstream GETs per blob (max over rounds), upstream bytes / image size', actual: `${Math.max(...fanout.map((h) => h.getsPerBlobMax))}, ${pct(median(fanout.map((h) => h.upstreamBytesRatio)))}` });
  }
  if ((herd.fanoutVerifying ?? []).length) {
    const verifyingFanout = herd.fanoutVerifying;
    info.push({ name: 'herd verifying fan-out ceiling all done / one direct pull through the link (paired by round; above 1.1, the herd target is out of reach here for a cache that verifies and stores)', actual: pct(median(verifyingFanout.map((h) => h.wallMs / h.directMs))) });
    info.push({ name: 'herd all done, pullthrough / herd verifying fan-out ceiling (paired by round)', actual: pct(pairedRatio((herd.pullthrough ?? []).map((h) => h.wallMs), verifyingFanout.map((h) => h.wallMs))) });
  }
  const shaper = shaped?.shaper;
  if (shaper?.bytes > 0) info.push({ name: 'link shaper (not counted in any target): CPU s/GiB through it in the shaped phase', actual: pct(shaper.cpuSeconds / (shaper.bytes / GiB)) });
  const targets = targetsOf({ samples, loopback, shaped, herd, herd3, manifests, cfg, link });
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
      pullRounds: cfg.pullRounds ?? cfg.rounds,
      herdRounds: cfg.herdRounds,
      manifestRounds: cfg.manifestRounds,
      parallel: cfg.parallel,
      link: { bytesPerSecond: link.bytesPerSecond, rttMs: link.rttMs },
      sizes: `big ${images.big.totalBytes} B; ${images.layers.layerCount} layers ${images.layers.totalBytes} B; herd ${images.herd.totalBytes} B (${images.herd.layerCount} layers); manifests ${cfg.manifestSeconds} s x ${cfg.manifestRounds} rounds per proxy and connection count`,
      notes: [
        'Every proxy and image is also pulled once with every blob digest checked (unmeasured).',
        `Cold: a fresh proxy (empty storage) per round, warmed up by pulling 4 unrelated 4 KiB images first (so cold means cache-cold, not JIT-cold); warm: the same proxy again, ${cfg.warmPulls ?? 1} pulls back to back once the image is stored and the cold pull\'s CPU window has passed, each a throughput sample, their CPU summed per round (the first warm pull of each proxy also on its own, among the targets\' context).`,
        `Shaped link: a proxy process in front of the upstream, ${linkText}: one bandwidth shared by every response body, half an RTT each way per request/response and one more RTT before a new connection's first request (no TCP slow start, no loss). Direct: the client through the link; the proxies fetch through it; each round also pulls the 60-layer image through the verifying write-through proxy (below) in front of the link, right after the direct pulls. Time to first byte: from the pull's start (manifest GET) to the first body byte of any blob. Upstream GETs and bytes: from the upstream registry's own log (no hop added).`,
        `CPU: user + system seconds from /proc/<pid>/stat of every process of the target (ours: frontend, hydrator, redis-server; the reference: registry), per GiB the client received, loopback pulls; a cold pull is counted from its start until it is stored and at least ${cfg.coldSettleMs / 1000} s later (background work included). The link shaper and the bench client are not counted. Peak RSS: VmHWM at the end of a proxy's cold + warm pulls; in the herd, VmRSS sampled every 50 ms (redis-server is shared by every pullthrough instance of the run).`,
        'Herd: RSS sampled every 50 ms from the herd start until 7 s after (background work included).',
        'Write-through ceiling (no client: upstream GET, sha256, 1 MiB writes to a new file, fsync): measured in the ceiling phase, and again in each round of the loopback cold pulls right before the proxies, where the target is paired by round with it (the same conditions as the proxies\' pulls: the page cache, the disk\'s writeback and the machine\'s load of that moment).',
        'Ceilings with a client (the same client, the big image, back to back each round): the bare node proxy (pass-through, nothing hashed or stored) and the verifying write-through proxy (a node proxy in its own process that sends each blob on while hashing it and queueing it for a new file in 1 MiB writes, two in flight, an unbounded queue, so the client never waits for the file; the last chunk held back until the digest is verified; the file fsynced after the client is done, before the next pull, then removed; also pulled in each round of the loopback cold pulls, right before the proxies, so ratios to it are paired by round): the most a cache that verifies and stores a miss while serving it on one node event loop can reach here with the client on the same cores. Manifest ceiling: a bare node HTTP server in its own process answering every manifest GET with the bytes and content headers the pullthrough sent, nothing looked up or logged, under the same load generator right after the two proxies in each round. Herd ceiling: a fresh node fan-out server per round, after the direct pull, fetches each blob once through the same link and writes each chunk to every waiting client (later clients get the bytes so far, then the rest), manifests fetched once; nothing hashed or stored: the most any single-process cache can do for the herd here. Verifying herd ceiling: the same server, fresh, right after it, that also hashes each blob as it arrives, holds its latest chunk back from the clients until the digest is verified, and writes it to a new file (1 MiB writes, two in flight, fsynced once the body is in, then removed), still keeping every byte in memory for late clients: the most a single-process cache that verifies and stores each blob can do for the herd here.',
        `herd3: ${cfg.herd3Clients} clients spread over 3 frontend processes with 2 hydrator processes (one filesystem store, one Redis), the upstream behind the shaped link (${fmtNumber((cfg.herd3Link ?? cfg.link).bytesPerSecond / MiB)} MiB/s); a fresh deployment per round; each client gets the manifest, then (once every client has it) all blobs at once, every digest verified. Leader: the client whose first byte came first, per blob; followers: the others. Time to first byte is from each request.`,
        'Both proxies log at info level, distribution with its access log off.',
        `1-minute load average at start / end: ${fmtNumber(loadAtStart, 1)} / ${fmtNumber(os.loadavg()[0], 1)} on ${os.cpus().length} cores (anything above ~3 means other work shared the machine: compare ratios within the run, not absolute figures).`,
      ],
    },
    ceiling: { loopback: summarize(samples.loopback?.ceiling ?? []), sha256: summarize(samples.sha256?.ceiling ?? []), writeThrough: summarize(samples.store?.ceiling ?? []), nodeProxy: summarize(samples.pipe?.ceiling ?? []), verifyingProxy: summarize(samples.verify?.ceiling ?? []), herdFanoutMs: summarize((herd.fanout ?? []).map((h) => h.wallMs)), herdFanoutVerifyingMs: summarize((herd.fanoutVerifying ?? []).map((h) => h.wallMs)) },
    rows,
    cost: { columns: COST_COLUMNS, rows: costRows(loopback, herd) },
    targets,
    info,
    raw: { samples, loopback, shaped, herd, manifests },
  };
}

/** Rows of the herd3 scenario: this cache only (the reference proxy has no scale-out). */
function herd3Rows(cfg, herd3, images) {
  if (herd3.length === 0) return [];
  const scenario = `herd3: ${cfg.herd3Clients} clients over 3 frontends + 2 hydrators, uncached ${fmtNumber(images.herd.totalBytes / MiB)} MiB, shaped link ${fmtNumber((cfg.herd3Link ?? cfg.link).bytesPerSecond / MiB)} MiB/s, ${(cfg.herd3Link ?? cfg.link).rttMs} ms RTT`;
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
