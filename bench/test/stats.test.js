'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { quantile, median, summarize, ratio, pairedRatio } = require('../lib/stats.js');

test('median of odd and even counts', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
  assert.equal(median([]), undefined);
});

test('quantile interpolates and ignores non-numbers', () => {
  assert.equal(quantile([0, 10], 0.25), 2.5);
  assert.equal(quantile([5, undefined, NaN, 1], 1), 5);
});

test('summarize gives median, range and relative spread', () => {
  assert.deepEqual(summarize([90, 110, 100]), { n: 3, median: 100, min: 90, max: 110, spread: 0.2 });
  assert.equal(summarize([]).n, 0);
});

test('ratio guards missing values and zero', () => {
  assert.equal(ratio(3, 2), 1.5);
  assert.equal(ratio(3, 0), undefined);
  assert.equal(ratio(undefined, 2), undefined);
});

test('pairedRatio is the median of per-round ratios, robust to drift between rounds', () => {
  // The machine halves its speed after round 2; b wins every round by 10%.
  const a = [1000, 1000, 500, 500, 500];
  const b = [1100, 1100, 550, 550, 550];
  assert.ok(Math.abs(pairedRatio(b, a) - 1.1) < 1e-9);
  assert.equal(pairedRatio([1, undefined, 3], [1, 2, 0]), 1);
  assert.equal(pairedRatio([], [1]), undefined);
});
