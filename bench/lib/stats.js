'use strict';
// Pure statistics over a list of samples (one per round): median and spread.

/** Sorted copy, numbers only. */
function sorted(values) {
  return values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
}

/** Linear-interpolated quantile (q in [0, 1]) of the samples; undefined when there are none. */
function quantile(values, q) {
  const s = sorted(values);
  if (s.length === 0) return undefined;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

const median = (values) => quantile(values, 0.5);

/**
 * Median, min, max and the spread as a fraction of the median ((max - min) / median): the
 * figure the report prints as "±x%" (half of it each side, roughly).
 */
function summarize(values) {
  const s = sorted(values);
  if (s.length === 0) return { n: 0, median: undefined, min: undefined, max: undefined, spread: undefined };
  const med = quantile(s, 0.5);
  const min = s[0];
  const max = s[s.length - 1];
  return { n: s.length, median: med, min, max, spread: med === 0 ? 0 : (max - min) / med };
}

/** a / b, or undefined when either is missing or b is 0. */
function ratio(a, b) {
  if (typeof a !== 'number' || typeof b !== 'number' || b === 0) return undefined;
  return a / b;
}

/**
 * The median of per-round ratios a[i] / b[i], for samples taken back to back in each round (the
 * targets alternate within a round): the machine's speed drifting between rounds then cancels out.
 * Rounds where either sample is missing are skipped; undefined when none is left.
 */
function pairedRatio(a, b) {
  const ratios = [];
  for (let i = 0; i < Math.min(a?.length ?? 0, b?.length ?? 0); i++) {
    const r = ratio(a[i], b[i]);
    if (r !== undefined && Number.isFinite(r)) ratios.push(r);
  }
  return median(ratios);
}

module.exports = { quantile, median, summarize, ratio, pairedRatio, sorted };
