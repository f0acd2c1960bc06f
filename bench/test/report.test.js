'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { renderText, renderMarkdown, renderSvg, fmtCell } = require('../lib/report.js');
const { summarize } = require('../lib/stats.js');

const results = {
  meta: { date: '2026-01-01T00:00:00Z', machine: '2 cores', node: 'v20', command: 'npm run bench', rounds: 3, parallel: 3, quick: true, notes: [], sizes: 'small' },
  ceiling: { loopback: summarize([1000, 1100, 1200]) },
  rows: [
    { scenario: 'warm 512 MiB', metric: 'throughput', unit: 'MiB/s', chart: true, reference: summarize([400, 500, 600]), pullthrough: summarize([800, 900]) },
    { scenario: 'herd', metric: 'upstream GETs per blob', reference: 20, pullthrough: 1, noRatio: true },
  ],
  targets: [{ name: 'herd: 1 GET per blob', target: '1', actual: '1', met: true }],
};

test('cells show median and range', () => {
  assert.equal(fmtCell(summarize([1, 2, 3])), '2.00 (1.00–3.00)');
  assert.equal(fmtCell(summarize([5])), '5.00');
  assert.equal(fmtCell(20), '20.0');
});

test('text table has a ratio column and the targets', () => {
  const text = renderText(results);
  assert.match(text, /warm 512 MiB\s+throughput \(MiB\/s\)\s+500 \(400–600\)\s+850 \(800–900\)\s+1\.70/);
  assert.match(text, /\[met \] herd: 1 GET per blob/);
});

test('the markdown header names the loopback pulls\' and the herds\' own round counts when they differ', () => {
  assert.match(renderMarkdown(results), /· 3 rounds per scenario, proxies alternating/);
  assert.match(renderMarkdown({ ...results, meta: { ...results.meta, pullRounds: 9 } }), /· 3 rounds per scenario \(loopback pulls: 9\), proxies alternating/);
  assert.match(renderMarkdown({ ...results, meta: { ...results.meta, pullRounds: 9, herdRounds: 7 } }), /· 3 rounds per scenario \(loopback pulls: 9; herd and herd3: 7\), proxies alternating/);
  assert.match(renderMarkdown({ ...results, meta: { ...results.meta, herdRounds: 3 } }), /· 3 rounds per scenario, proxies alternating/);
});

test('markdown and svg render every chart row', () => {
  assert.match(renderMarkdown(results), /\| warm 512 MiB \| throughput \(MiB\/s\) \|  \| 500 \(400–600\) \| 850 \(800–900\) \| 1\.70 \|/);
  const svg = renderSvg(results);
  assert.match(svg, /^<svg/);
  assert.match(svg, /loopback ceiling 1100/);
});
