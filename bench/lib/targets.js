'use strict';
// The targets of a run, each computed from that run's own measurements (issue 15's, then the ones
// earlier runs met and must keep): { name, target, actual, met }. A target whose figures are missing is
// reported as missed with '–'. Context rows next to a target ({ name, target: '', actual, context: true })
// set it against a ceiling measured in the same run: what this machine allows at all.
const { median, ratio, pairedRatio } = require('./stats.js');
const { cpuRatio } = require('./cost.js');
const { fmtNumber } = require('./report.js');

const MiB = 1024 ** 2;
const finite = (v) => typeof v === 'number' && Number.isFinite(v);
const two = (v) => (finite(v) ? fmtNumber(v, 2) : '–');
const ms = (v) => (finite(v) ? `${fmtNumber(v, 1)} ms` : '–');
const mib = (v) => (finite(v) ? `${fmtNumber(v)} MiB` : '–');
const target = (name, required, actual, met) => ({ name, target: required, actual, met: Boolean(met) });
const context = (name, actual) => ({ name, target: '', actual, met: false, context: true });
const atMost = (v, limit) => finite(v) && v <= limit;
const atLeast = (v, limit) => finite(v) && v >= limit;

/** Median over rounds of f(a[i], b[i]) for samples paired by round. */
function pairedBy(a = [], b = [], f) {
  const out = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const v = f(a[i], b[i]);
    if (finite(v)) out.push(v);
  }
  return median(out);
}

/** "exactly 1" over every blob of every round: the actual text and whether it holds. */
function exactlyOne(maxima) {
  if (maxima.length === 0) return ['–', false];
  const lo = Math.min(...maxima);
  const hi = Math.max(...maxima);
  return [lo === hi ? String(hi) : `${lo}..${hi}`, lo === 1 && hi === 1];
}

/**
 * Loopback cold pulls (big image), ratios between 'direct', 'reference', 'pullthrough' and 'verifying' (the
 * verifying write-through proxy with client): paired by round when the pulls phase pulled through that
 * proxy each round, else ratios of medians with the ceiling phase's samples. { how, of(a, b) }, or
 * undefined without either.
 */
function verifyingRatios(samples) {
  const cold = samples['cold-big'] ?? {};
  if (cold.verifying?.length) return { how: 'paired by round', of: (a, b) => pairedRatio(cold[a], cold[b]) };
  const ceiling = samples.verify?.ceiling ?? [];
  if (!finite(median(ceiling))) return undefined;
  const pick = (k) => median(k === 'verifying' ? ceiling : cold[k] ?? []);
  return { how: 'ratio of medians, ceiling phase', of: (a, b) => ratio(pick(a), pick(b)) };
}

function issue15Targets({ samples, loopback, shaped, herd, link }) {
  const out = [];
  const linkText = `${fmtNumber(link.bytesPerSecond / MiB)} MiB/s, ${link.rttMs} ms RTT`;
  for (const name of ['big', 'layers']) {
    const s = shaped?.samples?.[name] ?? {};
    const label = name === 'big' ? 'big image' : '60 layers';
    const speed = pairedBy(s.pullthrough, s.direct, (p, d) => d.ms / p.ms);
    out.push(target(`shaped link (${linkText}): cold pull, pullthrough / direct through the link (${label})`, '>= 0.95', two(speed), atLeast(speed, 0.95)));
    const ttfb = pairedBy(s.pullthrough, s.direct, (p, d) => p.ttfbMs - d.ttfbMs);
    out.push(target(`shaped link: time to first byte, pullthrough - direct (${label})`, '<= 5 ms', ms(ttfb), atMost(ttfb, 5)));
    if (s.verifying?.length) {
      out.push(context(`shaped link: cold pull, verifying write-through proxy / direct through the link (${label}, paired by round; the most a cache that verifies and stores each blob while serving it reaches here)`, two(pairedBy(s.verifying, s.direct, (v, d) => d.ms / v.ms))));
      out.push(context(`shaped link: cold pull, pullthrough / verifying write-through proxy (${label}, paired by round)`, two(pairedBy(s.pullthrough, s.verifying, (p, v) => v.ms / p.ms))));
    }
  }
  const herdRatio = median((herd.pullthrough ?? []).map((h) => h.wallMs / h.directMs));
  out.push(target('shaped link: herd of 20 all done / one direct pull of the image through the link', '<= 1.1', two(herdRatio), atMost(herdRatio, 1.1)));
  if (herd.fanout?.length) {
    const fanout = median(herd.fanout.map((h) => h.wallMs / h.directMs));
    out.push(context('herd fan-out ceiling (one fetch per blob fanned out, no hash, no store) all done / one direct pull (above 1.1, the target above is out of reach on this machine)', two(fanout)));
    out.push(context('herd all done, pullthrough / herd fan-out ceiling (paired by round)', two(pairedBy(herd.pullthrough, herd.fanout, (p, f) => p.wallMs / f.wallMs))));
  }
  if (herd.fanoutVerifying?.length) {
    const verifying = median(herd.fanoutVerifying.map((h) => h.wallMs / h.directMs));
    out.push(context('herd verifying fan-out ceiling (the same, each blob also hashed, its last chunk held until verified, written to a file and fsynced) all done / one direct pull (above 1.1, the target above is out of reach on this machine for a cache that verifies and stores each blob)', two(verifying)));
    out.push(context('herd all done, pullthrough / herd verifying fan-out ceiling (paired by round)', two(pairedBy(herd.pullthrough, herd.fanoutVerifying, (p, f) => p.wallMs / f.wallMs))));
  }
  const coldRef = pairedRatio(samples['cold-big']?.pullthrough, samples['cold-big']?.reference);
  out.push(target('loopback: cold pull, pullthrough / reference (big image)', '>= 1.0', two(coldRef), atLeast(coldRef, 1)));
  const verifying = verifyingRatios(samples);
  if (verifying) {
    out.push(context(`cold pull (big image), pullthrough / verifying write-through proxy with client (${verifying.how})`, two(verifying.of('pullthrough', 'verifying'))));
    out.push(context(`cold pull (big image), reference / verifying write-through proxy with client (${verifying.how}; above 1.0, "cold >= 1.0 of the reference" is out of reach on this machine for any cache that verifies and stores a miss while serving it)`, two(verifying.of('reference', 'verifying'))));
  }
  const bytes = (loopback.upstream?.['cold-big']?.pullthrough ?? []).map((f) => f.upstreamBytesRatio);
  const worstBytes = bytes.length ? Math.max(...bytes) : undefined;
  out.push(target('loopback: upstream bytes / image size, pullthrough cold pull (big image, worst round)', '<= 1.1', two(worstBytes), atMost(worstBytes, 1.1)));
  // The write-through ceiling stored in each pulls round right before the proxies (paired by round: the same
  // conditions as the proxies' pulls); without it (an older run, `--only` without pulls), the ceiling phase's.
  const cold = samples['cold-big'] ?? {};
  const phaseStore = median(samples.store?.ceiling ?? []);
  const phaseCeiling = ratio(median(cold.pullthrough ?? []), phaseStore);
  const pairedCeiling = cold.store?.length ? pairedRatio(cold.pullthrough, cold.store) : undefined;
  const ceiling = pairedCeiling ?? phaseCeiling;
  out.push(target(`loopback: cold pull, pullthrough / write-through ceiling (big image${pairedCeiling === undefined ? '' : ', paired by round'})`, '>= 0.9', two(ceiling), atLeast(ceiling, 0.9)));
  if (pairedCeiling !== undefined) {
    out.push(context('loopback: cold pull, pullthrough / write-through ceiling of the ceiling phase (big image, ratio of medians)', two(phaseCeiling)));
    out.push(context('write-through ceiling, pulls rounds / ceiling phase (big image, ratio of medians: what the pulls rounds\' conditions leave of it)', two(ratio(median(cold.store), phaseStore))));
    if (cold.verifying?.length) out.push(context('verifying write-through proxy with client / write-through ceiling (big image, paired by round; below 0.9, the target above is out of reach on this machine for a cache that verifies and stores a miss while serving its client on the same cores)', two(pairedRatio(cold.verifying, cold.store))));
  }
  for (const [key, label, limit] of [['warm-big', 'warm, big image', 1], ['warm-layers', 'warm, 60 layers', 1], ['cold-big', 'cold, big image', 1.5], ['cold-layers', 'cold, 60 layers', 1.5]]) {
    const r = cpuRatio(loopback.cost ?? [], key);
    out.push(target(`CPU s/GiB, pullthrough / reference (${label}, all processes)`, `<= ${limit.toFixed(1)}`, two(r), atMost(r, limit)));
    if ((loopback.cost ?? []).some((e) => e.first && `${e.temperature}-${e.image}` === key)) {
      out.push(context(`CPU s/GiB, pullthrough / reference (${label}, the first warm pull of each proxy only, paired by round)`, two(cpuRatio(loopback.cost, key, true))));
    }
  }
  const peak = (proc) => {
    const v = (herd.pullthrough ?? []).map((h) => h.memory?.[proc]?.peakRss / MiB).filter(finite);
    return v.length ? Math.max(...v) : undefined;
  };
  out.push(target('peak RSS in the herd, frontend (worst round)', '<= 110 MiB', mib(peak('frontend')), atMost(peak('frontend'), 110)));
  out.push(target('peak RSS in the herd, hydrator (worst round)', '<= 90 MiB', mib(peak('hydrator')), atMost(peak('hydrator'), 90)));
  return out;
}

function keptTargets({ samples, herd, herd3, manifests, cfg }) {
  const out = [];
  const warm = pairedRatio(samples['warm-big']?.pullthrough, samples['warm-big']?.reference);
  out.push(target('warm blob throughput, pullthrough / reference (big image)', '>= 1.0', two(warm), atLeast(warm, 1)));
  for (const kind of ['reference', 'pullthrough']) {
    const share = median(samples['warm-big-client']?.[kind] ?? []);
    if (Number.isFinite(share)) out.push(context(`warm pull (big image) through the ${kind}: the bench client's CPU over the pull, cores (median; at about 1.0 the client, one node process, sets the pace, not the proxy)`, two(share)));
  }
  const warmCeiling = ratio(median(samples['warm-big']?.pullthrough ?? []), median(samples.loopback?.ceiling ?? []));
  out.push(target('warm blob throughput, pullthrough / loopback ceiling', '>= 0.7', two(warmCeiling), atLeast(warmCeiling, 0.7)));
  const [herdGets, herdOne] = exactlyOne((herd.pullthrough ?? []).map((h) => h.getsPerBlobMax));
  out.push(target('herd: upstream GETs per blob, every blob, every round', 'exactly 1', herdGets, herdOne));
  const high = Math.max(...cfg.manifestConnections);
  const low = Math.min(...cfg.manifestConnections);
  const rps = pairedRatio(manifests[high]?.pullthrough.map((m) => m.rps), manifests[high]?.reference.map((m) => m.rps));
  out.push(target(`manifest hits requests/s, pullthrough / reference (${high} connections)`, '>= 1.0', two(rps), atLeast(rps, 1)));
  for (const c of [high, low]) {
    const p99 = median(manifests[c]?.pullthrough.map((m) => m.p99) ?? []);
    out.push(target(`manifest hits p99 latency, pullthrough (${c} connections)`, '< 10 ms', ms(p99), finite(p99) && p99 < 10));
    const ceiling = median(manifests[c]?.ceiling?.map((m) => m.p99) ?? []);
    if (finite(ceiling)) out.push(context(`manifest p99 latency, bare node server answering one fixed manifest (${c} connections; at or above 10 ms, the target above is out of reach with this load generator on this machine)`, ms(ceiling)));
  }
  if (herd3.length) {
    const [gets, one] = exactlyOne(herd3.map((h) => h.getsPerBlobMax));
    out.push(target('herd3: upstream GETs per blob over 3 frontend processes, every blob, every round', 'exactly 1', gets, one));
  }
  return out;
}

/** Every target of the run: issue 15's first, then the kept ones. */
function targetsOf(input) {
  return [...issue15Targets(input), ...keptTargets(input)];
}

module.exports = { targetsOf, pairedBy, exactlyOne, verifyingRatios };
