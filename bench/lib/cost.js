'use strict';
// What serving costs, per process of each target: CPU seconds (user + system) per GiB served, cold
// and warm, from the loopback pulls (and over the herd's window, per GiB its clients received); peak RSS over a proxy's cold and warm pulls (VmHWM) and during
// the herd (VmRSS sampled every 50 ms). The link shaper and the bench client are not counted.
const { summarize, median } = require('./stats.js');

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

const PROCESSES = { reference: ['registry'], pullthrough: ['frontend', 'hydrator', 'redis-server'] };

/** The cost table's columns: [key, label]. */
const COST_COLUMNS = [
  ['cold-big', 'CPU s/GiB, cold, big image'],
  ['warm-big', 'CPU s/GiB, warm, big image'],
  ['cold-layers', 'CPU s/GiB, cold, 60 layers'],
  ['warm-layers', 'CPU s/GiB, warm, 60 layers'],
  ['cpu-herd', 'CPU s/GiB, herd (shaped link)'],
  ['rss-pulls', 'peak RSS, cold + warm pulls (VmHWM, MiB)'],
  ['rss-herd', 'peak RSS, herd (sampled VmRSS, MiB)'],
];

const sum = (values) => (values.every((v) => typeof v === 'number') ? values.reduce((a, b) => a + b, 0) : undefined);

/** CPU seconds per GiB of one measured pull: `processes` (undefined: all of the entry's) summed. */
function cpuPerGiB(entry, processes) {
  const seconds = sum((processes ?? Object.keys(entry.cpu)).map((p) => entry.cpu[p]));
  return seconds === undefined || !(entry.bytes > 0) ? undefined : seconds / (entry.bytes / GiB);
}

/**
 * Per-round CPU s/GiB of `kind` for one image and temperature (e.g. 'cold-big'), `process` or all; `first`: of
 * the round's first warm pull only (an entry of several warm pulls keeps it as `first`).
 */
function cpuSeries(cost, kind, key, process, first = false) {
  return cost
    .filter((e) => e.kind === kind && `${e.temperature}-${e.image}` === key)
    .sort((a, b) => a.round - b.round)
    .map((e) => cpuPerGiB(first ? (e.first ?? e) : e, process ? [process] : undefined));
}

/** Median of the per-round ratios pullthrough / reference of CPU s/GiB, all processes (rounds pair up); `first` as cpuSeries. */
function cpuRatio(cost, key, first = false) {
  const ours = cpuSeries(cost, 'pullthrough', key, undefined, first);
  const ref = cpuSeries(cost, 'reference', key, undefined, first);
  const ratios = [];
  for (let i = 0; i < Math.min(ours.length, ref.length); i++) if (ours[i] !== undefined && ref[i] > 0) ratios.push(ours[i] / ref[i]);
  return median(ratios);
}

/**
 * Rows of the cost table: one per process of each target and one for all of its processes, each
 * { target, process, cells: { [column key]: summary over rounds } }.
 */
function costRows({ cost = [], peak = [] }, herd = { reference: [], pullthrough: [] }) {
  const rows = [];
  for (const [kind, processes] of Object.entries(PROCESSES)) {
    for (const process of [...processes, undefined]) {
      const cells = {};
      for (const [key] of COST_COLUMNS.slice(0, 4)) cells[key] = summarize(cpuSeries(cost, kind, key, process));
      cells['cpu-herd'] = summarize((herd[kind] ?? []).filter((h) => h.cpu).map((h) => cpuPerGiB(h, process ? [process] : undefined)));
      if (process) {
        cells['rss-pulls'] = summarize(peak.filter((p) => p.kind === kind).map((p) => p.memory[process] / MiB));
        cells['rss-herd'] = summarize((herd[kind] ?? []).map((h) => h.memory?.[process]?.peakRss / MiB));
      }
      rows.push({ target: kind, process: process ?? 'all processes', cells });
    }
  }
  return rows;
}

module.exports = { COST_COLUMNS, PROCESSES, cpuPerGiB, cpuSeries, cpuRatio, costRows, GiB };
