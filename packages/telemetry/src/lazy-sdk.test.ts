import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

// A real node process on the built package (the test task builds first): which OpenTelemetry
// packages does it load, with tracing off and on?
const DIST = join(__dirname, '..', 'dist', 'index.js');

function loadedOtelPackages(script: string): string[] {
  const out = execFileSync(
    process.execPath,
    ['-e', `const t = require(${JSON.stringify(DIST)}); ${script}; setImmediate(() => { const names = new Set(Object.keys(require.cache).map((p) => /node_modules\\/(@opentelemetry\\/[^/]+)/.exec(p)?.[1]).filter(Boolean)); console.log(JSON.stringify([...names].sort())); process.exit(0); });`],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return JSON.parse(out.trim()) as string[];
}

test('tracing off: only the no-op API is loaded, not the SDK or core', () => {
  const loaded = loadedOtelPackages(`t.startTracing({ PULLTHROUGH_OTLP_ENDPOINT: undefined, PULLTHROUGH_TRACE_SAMPLE_RATIO: 1 }, { serviceName: 'x', egressAllow: [] }); t.currentTraceparent(); t.linkTo(undefined)`);
  expect(loaded).toEqual(['@opentelemetry/api']);
});

test('tracing on: the SDK is loaded when it starts', () => {
  const loaded = loadedOtelPackages(`t.startTracing({ PULLTHROUGH_OTLP_ENDPOINT: 'http://127.0.0.1:9', PULLTHROUGH_TRACE_SAMPLE_RATIO: 1 }, { serviceName: 'x', egressAllow: [] })`);
  expect(loaded).toEqual(expect.arrayContaining(['@opentelemetry/api', '@opentelemetry/core', '@opentelemetry/sdk-trace-base', '@opentelemetry/sdk-trace-node', '@opentelemetry/resources']));
});

test('a traceparent in job data loads the W3C propagator on first use', () => {
  const loaded = loadedOtelPackages(`t.linkTo('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')`);
  expect(loaded).toEqual(expect.arrayContaining(['@opentelemetry/api', '@opentelemetry/core']));
  expect(loaded.some((name) => name.startsWith('@opentelemetry/sdk-'))).toBe(false);
});
