'use strict';
// Which metrics a Grafana dashboard's PromQL names, and which a Prometheus scrape exports: for
// infra/scripts/dashboard.test.js (every panel must name only metrics the apps really export).

/** PromQL words that are not metric names. */
const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'and', 'or', 'unless', 'inf', 'nan', 'atan2']);

/** Every PromQL expression of every panel (rows' nested panels included). */
function panelExpressions(dashboard) {
  const out = [];
  const visit = (panels) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string' && t.expr.trim()) out.push({ panel: p.title, expr: t.expr });
      visit(p.panels);
    }
  };
  visit(dashboard.panels);
  return out;
}

/**
 * The metric names in one PromQL expression: identifiers that are not functions (followed by `(`),
 * keywords, label names or values (inside `{}`), grouping labels (`by (...)`), durations (`[5m]`),
 * strings or Grafana variables.
 */
function metricNames(expr) {
  const text = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set();
  // Whole tokens: numbers and durations (`0.99`, `1h`, `1e3`) start with a digit and are skipped whole.
  for (const m of text.matchAll(/[a-zA-Z0-9_:.]+/g)) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(m[0])) continue;
    const after = text.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(')) continue;
    if (KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** Every series name a scrape exports: sample names, plus the _bucket/_sum/_count (or _sum/_count) of each declared histogram (summary). */
function exportedNames(scrapeText) {
  const names = new Set();
  for (const line of scrapeText.split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line);
    if (type) {
      const [, name, kind] = type;
      names.add(name);
      if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
      if (kind === 'summary') for (const s of ['_sum', '_count']) names.add(name + s);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]);
  }
  return names;
}

/** Panel expressions naming a metric not in `exported`: `[{ panel, metric }]`. */
function unexported(dashboard, exported) {
  const missing = [];
  for (const { panel, expr } of panelExpressions(dashboard)) {
    for (const metric of metricNames(expr)) if (!exported.has(metric)) missing.push({ panel, metric });
  }
  return missing;
}

module.exports = { panelExpressions, metricNames, exportedNames, unexported };
