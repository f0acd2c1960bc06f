import { z } from 'zod';
import { context, trace } from '@opentelemetry/api';
import { startOtlpReceiver, waitUntil } from '@pullthrough/test-support';
import { inSpan } from './spans.js';
import { startTracing, tracingActive } from './start-tracing.js';
import { telemetryConfigFields } from './telemetry-config.js';
import { contextFromTraceparent, currentTraceparent, isTraceparent } from './trace-context.js';

const schema = z.object(telemetryConfigFields);

describe('telemetry settings', () => {
  it.each([
    [{}, undefined],
    [{ PULLTHROUGH_OTLP_ENDPOINT: '' }, undefined],
    [{ PULLTHROUGH_OTLP_ENDPOINT: ' http://collector:4318/ ' }, 'http://collector:4318'],
    [{ PULLTHROUGH_OTLP_ENDPOINT: 'https://otel.example/base' }, 'https://otel.example/base'],
  ])('%j gives endpoint %s', (env, endpoint) => {
    expect(schema.parse(env).PULLTHROUGH_OTLP_ENDPOINT).toBe(endpoint);
  });

  it.each([
    ['ftp://collector:21', /http or https/],
    ['http://user:secret@collector:4318', /credentials/],
    ['http://collector:4318/?token=x', /query/],
    ['not a url', /http\(s\) URL/],
  ])('refuses %s', (value, message) => {
    const r = schema.safeParse({ PULLTHROUGH_OTLP_ENDPOINT: value });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message).join(' ')).toMatch(message);
  });

  it('sample ratio is 0..1, default 1', () => {
    expect(schema.parse({}).PULLTHROUGH_TRACE_SAMPLE_RATIO).toBe(1);
    expect(schema.parse({ PULLTHROUGH_TRACE_SAMPLE_RATIO: '0.25' }).PULLTHROUGH_TRACE_SAMPLE_RATIO).toBe(0.25);
    expect(schema.safeParse({ PULLTHROUGH_TRACE_SAMPLE_RATIO: '1.5' }).success).toBe(false);
  });
});

describe('startTracing', () => {
  it('off without an endpoint: nothing registered, spans do not record, no traceparent', async () => {
    const tracing = startTracing({ PULLTHROUGH_TRACE_SAMPLE_RATIO: 1 }, { serviceName: 'off', egressAllow: [] });
    expect(tracing.enabled).toBe(false);
    expect(tracingActive()).toBe(false);
    const seen = await inSpan('nothing', {}, async (span) => ({ recording: span.isRecording(), traceparent: currentTraceparent() }));
    expect(seen).toEqual({ recording: false, traceparent: undefined });
  });

  it('on: exports to the endpoint (allowed for the exporter alone), propagates context through awaits, continues a traceparent', async () => {
    const receiver = await startOtlpReceiver();
    // The egress allow-list is empty: the collector's own host:port is let through for the exporter.
    const tracing = startTracing({ PULLTHROUGH_OTLP_ENDPOINT: receiver.url, PULLTHROUGH_TRACE_SAMPLE_RATIO: 1 }, { serviceName: 'tracing-test', egressAllow: [], exportDelayMs: 50 });
    try {
      expect(tracing.enabled).toBe(true);
      expect(tracingActive()).toBe(true);
      expect(() => startTracing({ PULLTHROUGH_OTLP_ENDPOINT: receiver.url, PULLTHROUGH_TRACE_SAMPLE_RATIO: 1 }, { serviceName: 'again', egressAllow: [] })).toThrow(/already started/);
      const traceparent = await inSpan('outer', {}, async () => {
        await new Promise((r) => setTimeout(r, 5));
        return inSpan('inner', {}, async () => currentTraceparent());
      });
      expect(isTraceparent(traceparent!)).toBe(true);
      await context.with(contextFromTraceparent(traceparent), () => inSpan('continued', {}, async () => undefined));
      await tracing.flush();
      await waitUntil(async () => receiver.spans.length >= 3, { what: 'three spans' });
      const byName = Object.fromEntries(receiver.spans.map((s) => [s.name, s]));
      expect(byName.inner!.parentSpanId).toBe(byName.outer!.spanId);
      expect(traceparent).toBe(`00-${byName.inner!.traceId}-${byName.inner!.spanId}-01`);
      expect(byName.continued).toMatchObject({ traceId: byName.outer!.traceId, parentSpanId: byName.inner!.spanId, service: 'tracing-test' });
    } finally {
      await tracing.shutdown();
      await receiver.stop();
    }
    // Shut down: back to the no-op API.
    expect(tracingActive()).toBe(false);
    expect(trace.getTracer('x').startSpan('after').isRecording()).toBe(false);
  });

  it('a malformed traceparent starts a new trace', () => {
    expect(isTraceparent('00-abc-def-01')).toBe(false);
    expect(trace.getSpanContext(contextFromTraceparent('00-abc-def-01'))).toBeUndefined();
  });
});
