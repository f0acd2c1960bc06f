'use strict';
// Pure rendering of a results object: the console table, the Markdown report and an SVG chart.
const { ratio } = require('./stats.js');

const TARGETS = ['direct', 'reference', 'pullthrough'];

function fmtNumber(v, digits) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '–';
  if (digits !== undefined) return v.toFixed(digits);
  const abs = Math.abs(v);
  return abs >= 100 ? v.toFixed(0) : abs >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** "median (min–max)" for a summary, or a bare value for a plain number. */
function fmtCell(cell) {
  if (cell === undefined || cell === null) return '';
  if (typeof cell === 'number' || typeof cell === 'string') return typeof cell === 'number' ? fmtNumber(cell) : cell;
  if (cell.n === 0) return '–';
  if (cell.n === 1 || cell.min === cell.max) return fmtNumber(cell.median);
  return `${fmtNumber(cell.median)} (${fmtNumber(cell.min)}–${fmtNumber(cell.max)})`;
}

const medianOf = (cell) => (typeof cell === 'number' ? cell : cell?.median);

/** Table rows: scenario, metric, one cell per target, and pullthrough / reference. */
function tableRows(results) {
  return results.rows.map((row) => [
    row.scenario,
    row.unit ? `${row.metric} (${row.unit})` : row.metric,
    ...TARGETS.map((t) => fmtCell(row[t])),
    row.noRatio ? '' : fmtNumber(row.ratio ?? ratio(medianOf(row.pullthrough), medianOf(row.reference)), 2),
  ]);
}

const HEADER = ['scenario', 'metric', 'direct upstream', 'reference (distribution)', 'pullthrough', 'pullthrough / reference'];

/** The cost table (results.cost): header and one row per process of each target. */
function costTable(results) {
  const cost = results.cost;
  if (!cost?.rows?.length) return undefined;
  return {
    header: ['target', 'process', ...cost.columns.map(([, label]) => label)],
    rows: cost.rows.map((r) => [r.target, r.process, ...cost.columns.map(([key]) => fmtCell(r.cells[key]))]),
  };
}

function textTable(header, body) {
  const rows = [header, ...body];
  const widths = header.map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
}

function renderText(results) {
  const out = textTable(HEADER, tableRows(results));
  const cost = costTable(results);
  if (cost) out.push('', 'cost per GiB served and peak RSS, per process (median (min–max) over the rounds):', ...textTable(cost.header, cost.rows));
  out.push('', 'targets:');
  for (const t of results.targets) out.push(t.context ? `  [ctx ] ${t.name}: ${t.actual}` : `  [${t.met ? 'met ' : 'MISS'}] ${t.name}: ${t.actual} (target ${t.target})`);
  if (results.info?.length) out.push('', 'context:', ...results.info.map((i) => `  ${i.name}: ${i.actual}`));
  return out.join('\n');
}

const mdEscape = (s) => String(s).replace(/\|/g, '\\|');

function markdownTable(header, rows) {
  return [
    `| ${header.map(mdEscape).join(' | ')} |`,
    `| ${header.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(mdEscape).join(' | ')} |`),
  ].join('\n');
}

const renderMarkdownTable = (results) => markdownTable(HEADER, tableRows(results));

/** The cost table in Markdown ('' when the run has none). */
function renderCostMarkdown(results) {
  const cost = costTable(results);
  return cost ? markdownTable(cost.header, cost.rows) : '';
}

function renderTargets(results) {
  return [
    '| target | required | measured | |',
    '| --- | --- | --- | --- |',
    ...results.targets.map((t) => `| ${mdEscape(t.name)} | ${mdEscape(t.target)} | ${mdEscape(t.actual)} | ${t.context ? 'context' : t.met ? 'met' : '**missed**'} |`),
  ].join('\n');
}

/** The phases whose round counts differ from the run's, e.g. " (loopback pulls: 9; herd and herd3: 7)". */
function roundsApart(m) {
  const apart = [
    ['loopback pulls', m.pullRounds],
    ['herd and herd3', m.herdRounds],
  ].filter(([, n]) => n !== undefined && n !== m.rounds);
  return apart.length ? ` (${apart.map(([what, n]) => `${what}: ${n}`).join('; ')})` : '';
}

function renderMarkdown(results) {
  const m = results.meta;
  return [
    `# pullthrough benchmark${m.quick ? ' (quick)' : ''}`,
    '',
    `${m.date} · ${m.machine} · node ${m.node} · \`${m.command}\` · ${m.rounds} rounds per scenario${roundsApart(m)}, proxies alternating`,
    '',
    'Cells: median (min–max) over the rounds (warm pulls: over every warm pull of every round). Pulls: manifest by tag, then config and layers over HTTP keep-alive',
    `(${m.parallel} blobs at a time, one connection each, every socket read into one reused buffer: bench/lib/http-client.js), the same client for every target. ${m.notes.join(' ')}`,
    '',
    renderMarkdownTable(results),
    '',
    ...(results.cost?.rows?.length ? ['## Cost per GiB served and peak RSS, per process', '', renderCostMarkdown(results), ''] : []),
    '## Targets',
    '',
    renderTargets(results),
    '',
    ...(results.info?.length ? ['Context (same run):', '', ...results.info.map((i) => `- ${i.name}: ${i.actual}`), ''] : []),
    `Sizes: ${m.sizes}.`,
    '',
  ].join('\n');
}

const xmlEscape = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Grouped horizontal bars (median, with a min–max whisker) for the throughput rows, plus the ceiling. */
function renderSvg(results) {
  const rows = results.rows.filter((r) => r.chart);
  const colors = { direct: '#9aa0a6', reference: '#f28b30', pullthrough: '#1a73e8' };
  const barH = 14;
  const groupH = TARGETS.length * barH + 18;
  const left = 230;
  const width = 900;
  const plotW = width - left - 90;
  const ceiling = medianOf(results.ceiling?.loopback);
  const max = Math.max(1, ceiling ?? 0, ...rows.flatMap((r) => TARGETS.map((t) => r[t]?.max ?? medianOf(r[t]) ?? 0)));
  const x = (v) => left + (v / max) * plotW;
  const height = 40 + rows.length * groupH + 40;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${xmlEscape(`Pull throughput, MiB/s (median, min–max) — ${results.meta.date}`)}</text>`,
  ];
  rows.forEach((row, gi) => {
    const y0 = 40 + gi * groupH;
    parts.push(`<text x="10" y="${y0 + groupH / 2}" >${xmlEscape(row.scenario)}</text>`);
    TARGETS.forEach((t, i) => {
      const cell = row[t];
      const med = medianOf(cell);
      if (med === undefined) return;
      const y = y0 + i * barH;
      parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, x(med) - left).toFixed(1)}" height="${barH - 3}" fill="${colors[t]}"><title>${t}: ${fmtCell(cell)}</title></rect>`);
      if (cell.min !== undefined && cell.max !== cell.min) {
        parts.push(`<line x1="${x(cell.min).toFixed(1)}" x2="${x(cell.max).toFixed(1)}" y1="${y + (barH - 3) / 2}" y2="${y + (barH - 3) / 2}" stroke="black"/>`);
      }
      parts.push(`<text x="${(x(Math.max(med, cell.max ?? med)) + 4).toFixed(1)}" y="${y + barH - 4}" font-size="10">${fmtNumber(med)}</text>`);
    });
  });
  if (ceiling) {
    parts.push(`<line x1="${x(ceiling).toFixed(1)}" x2="${x(ceiling).toFixed(1)}" y1="30" y2="${height - 35}" stroke="#d93025" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${(x(ceiling) - 4).toFixed(1)}" y="${height - 22}" text-anchor="end" fill="#d93025">loopback ceiling ${fmtNumber(ceiling)}</text>`);
  }
  TARGETS.forEach((t, i) => {
    parts.push(`<rect x="${10 + i * 170}" y="${height - 14}" width="10" height="10" fill="${colors[t]}"/><text x="${24 + i * 170}" y="${height - 5}">${t === 'reference' ? 'reference (distribution)' : t === 'direct' ? 'direct from upstream' : t}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

module.exports = { renderText, renderMarkdown, renderMarkdownTable, renderCostMarkdown, renderTargets, renderSvg, fmtCell, fmtNumber, tableRows };
