import { SpanKind, context, trace } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { createEgressAgent, EgressPolicy } from '@pullthrough/egress';
import { startOtlpReceiver, waitUntil, type OtlpReceiver } from '@pullthrough/test-support';
import { OtlpHttpExporter } from './otlp-http-exporter.js';

describe('OtlpHttpExporter', () => {
  let receiver: OtlpReceiver;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
  });
  afterAll(() => receiver.stop());

  it('posts OTLP/JSON the receiver reads back: ids, parent, kind, attributes, resource', async () => {
    const agent = createEgressAgent(new EgressPolicy({ allow: ['127.0.0.1'] }));
    const exporter = new OtlpHttpExporter({ endpoint: receiver.url, dispatcher: agent });
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': 'exporter-test' }), spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const tracer = provider.getTracer('test');
    const parent = tracer.startSpan('parent', { kind: SpanKind.SERVER, attributes: { 'http.route': '/v2/:name/manifests/:reference', size: 42, ratio: 0.5, ok: true } });
    const child = tracer.startSpan('child', { kind: SpanKind.CLIENT }, trace.setSpan(context.active(), parent));
    child.end();
    parent.end();
    await provider.forceFlush();
    await waitUntil(async () => receiver.spans.filter((s) => s.service === 'exporter-test').length === 2, { what: 'two spans' });
    const got = receiver.spans.filter((s) => s.service === 'exporter-test');
    const p = got.find((s) => s.name === 'parent')!;
    const c = got.find((s) => s.name === 'child')!;
    expect(p).toMatchObject({ traceId: parent.spanContext().traceId, spanId: parent.spanContext().spanId, kind: 2, attributes: { 'http.route': '/v2/:name/manifests/:reference', size: 42, ratio: 0.5, ok: true } });
    expect(p.parentSpanId).toBeUndefined();
    expect(c).toMatchObject({ traceId: p.traceId, parentSpanId: p.spanId, kind: 3 });
    await provider.shutdown();
    await agent.close();
  });

  it('dials through the egress policy: a collector the policy refuses gets nothing, and the error is told once', async () => {
    const before = receiver.requests;
    const agent = createEgressAgent(new EgressPolicy());
    const errors: string[] = [];
    const exporter = new OtlpHttpExporter({ endpoint: receiver.url, dispatcher: agent, onError: (m) => errors.push(m) });
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    provider.getTracer('test').startSpan('refused').end();
    provider.getTracer('test').startSpan('refused again').end();
    // The processor reports the failed exports as a rejection of the flush.
    await expect(provider.forceFlush()).rejects.toBeDefined();
    await exporter.forceFlush();
    expect(receiver.requests).toBe(before);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^OTLP export to 127\.0\.0\.1:\d+ failed: .*loopback/);
    await provider.shutdown();
    await agent.close();
  });
});
