// The Grafana dashboard names only metrics the apps export: the built frontend and hydrator are
// started (a private redis-server from test support), both /metrics are scraped, and every metric
// named by every panel's PromQL must be among what they export.
//   node --test infra/scripts/   (after a build: apps/*/dist, packages/test-support/dist)
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { panelExpressions, metricNames, exportedNames, unexported } = require('./lib/dashboard-metrics');

const repo = path.resolve(__dirname, '..', '..');
const DASHBOARD = path.join(repo, 'infra', 'grafana', 'pullthrough-dashboard.json');
const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8'));

test('metric names are read from PromQL, not functions, labels, keywords, durations or variables', () => {
  assert.deepEqual(
    metricNames('histogram_quantile(0.99, sum by (le, route) (rate(pullthrough_http_request_duration_seconds_bucket{plane="data", route=~"/v2/.*"}[$__rate_interval])))'),
    ['pullthrough_http_request_duration_seconds_bucket'],
  );
  assert.deepEqual(metricNames('sum(rate(a_total{x!="b_total"}[5m] offset 1h)) / ignoring(y) group_left sum without (z) (c_bytes) > bool 0'), ['a_total', 'c_bytes']);
  assert.deepEqual(metricNames('max by (upstream) (pullthrough_upstream_breaker_state) or on() vector(0)'), ['pullthrough_upstream_breaker_state']);
});

test('a scrape exports its samples and the series of each declared histogram', () => {
  const names = exportedNames('# HELP h_seconds x\n# TYPE h_seconds histogram\n# TYPE c_total counter\nc_total{a="1"} 2\ng 3\n');
  for (const n of ['h_seconds', 'h_seconds_bucket', 'h_seconds_sum', 'h_seconds_count', 'c_total', 'g']) assert.ok(names.has(n), n);
  assert.ok(!names.has('c_total_bucket'));
});

test('every panel has a Prometheus query on the datasource variable', () => {
  const exprs = panelExpressions(dashboard);
  assert.ok(exprs.length >= 20, `only ${exprs.length} expressions`);
  assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus'));
  for (const p of dashboard.panels.filter((p) => p.type !== 'row')) {
    assert.equal(p.datasource?.uid, '${datasource}', p.title);
    assert.ok(p.targets?.length > 0, `${p.title} has no query`);
  }
});

/** Start `node <main>` with env; resolves with the first JSON log line whose msg is `msg`, and the child. */
function startApp(main, env, msg) {
  if (!fs.existsSync(main)) throw new Error(`${main} is missing: build first (npx turbo run build)`);
  const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${path.basename(path.dirname(path.dirname(main)))} did not start: ${err.slice(-2000)}`)), 30_000);
    child.on('exit', (code) => reject(new Error(`${main} exited ${code}: ${err.slice(-2000)}`)));
    child.stdout.on('data', (c) => {
      out += c;
      for (const line of out.split('\n')) {
        if (!line.includes(msg)) continue;
        clearTimeout(timer);
        resolve({ child, line: JSON.parse(line) });
      }
    });
  });
}

function stopApp(child) {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

test('every metric a panel names is exported by the frontend or the hydrator (and a doctored panel is caught)', { timeout: 120_000 }, async () => {
  const { startRedis } = require(path.join(repo, 'packages', 'test-support', 'dist', 'index.js'));
  const redis = await startRedis();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pullthrough-dashboard-'));
  const env = { REDIS_URL: redis.url, PULLTHROUGH_DATA_DIR: dataDir, PULLTHROUGH_QUEUE_PREFIX: `dash${process.pid}`, PULLTHROUGH_LOG_LEVEL: 'info' };
  let frontend;
  let hydrator;
  try {
    frontend = await startApp(path.join(repo, 'apps', 'frontend', 'dist', 'main.js'), { ...env, PULLTHROUGH_DATA_PORT: '0', PULLTHROUGH_ADMIN_PORT: '0', PULLTHROUGH_ADMIN_TOKEN: 'dashboard-test-admin-token-0123' }, 'frontend listening');
    hydrator = await startApp(path.join(repo, 'apps', 'hydrator', 'dist', 'main.js'), { ...env, PULLTHROUGH_HYDRATOR_PORT: '0' }, 'hydrator running');
    const scrapes = await Promise.all([`${frontend.line.admin}/metrics`, `${hydrator.line.probes}/metrics`].map(async (url) => {
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      return res.text();
    }));
    const exported = new Set(scrapes.flatMap((s) => [...exportedNames(s)]));
    assert.ok(exported.has('pullthrough_http_request_duration_seconds_bucket') && exported.has('pullthrough_job_duration_seconds_bucket'));
    assert.deepEqual(unexported(dashboard, exported), []);
    // The same check on a copy whose panel names a metric nobody exports fails, naming it.
    const doctored = structuredClone(dashboard);
    doctored.panels.find((p) => p.targets).targets.push({ refId: 'Z', expr: 'sum(rate(pullthrough_nobody_exports_this_total[5m]))' });
    assert.deepEqual(unexported(doctored, exported), [{ panel: doctored.panels.find((p) => p.targets).title, metric: 'pullthrough_nobody_exports_this_total' }]);
  } finally {
    await Promise.all([stopApp(frontend?.child), stopApp(hydrator?.child)]);
    await redis.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
