import type { AttributeValue, Attributes, HrTime, Link, SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** One OTLP `AnyValue` (the JSON mapping of the OTLP protobuf: 64-bit integers as strings). */
type AnyValue = { stringValue: string } | { boolValue: boolean } | { intValue: string } | { doubleValue: number } | { arrayValue: { values: AnyValue[] } };
interface KeyValue {
  key: string;
  value: AnyValue;
}

function anyValue(v: AttributeValue): AnyValue {
  if (Array.isArray(v)) return { arrayValue: { values: v.filter((x) => x !== null && x !== undefined).map((x) => anyValue(x as AttributeValue)) } };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  return { stringValue: String(v) };
}

export function keyValues(attributes: Attributes): KeyValue[] {
  return Object.entries(attributes)
    .filter((e): e is [string, AttributeValue] => e[1] !== undefined && e[1] !== null)
    .map(([key, value]) => ({ key, value: anyValue(value) }));
}

const nanos = (t: HrTime): string => (BigInt(t[0]) * 1_000_000_000n + BigInt(t[1])).toString();

const link = (l: Link) => ({ traceId: l.context.traceId, spanId: l.context.spanId, attributes: keyValues(l.attributes ?? {}) });

function span(s: ReadableSpan) {
  const ctx: SpanContext = s.spanContext();
  const parent = s.parentSpanContext?.spanId;
  return {
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    ...(parent ? { parentSpanId: parent } : {}),
    name: s.name,
    // api SpanKind is 0-based (INTERNAL); OTLP's is 1-based (SPAN_KIND_INTERNAL = 1).
    kind: s.kind + 1,
    startTimeUnixNano: nanos(s.startTime),
    endTimeUnixNano: nanos(s.endTime),
    attributes: keyValues(s.attributes),
    droppedAttributesCount: s.droppedAttributesCount,
    events: s.events.map((e) => ({ timeUnixNano: nanos(e.time), name: e.name, attributes: keyValues(e.attributes ?? {}) })),
    links: s.links.map(link),
    status: { code: s.status.code, ...(s.status.message ? { message: s.status.message } : {}) },
  };
}

/**
 * An ExportTraceServiceRequest in OTLP/JSON (trace and span ids as hex, as the OTLP/HTTP JSON
 * encoding says): spans grouped by resource, then by instrumentation scope.
 */
export function exportTraceRequest(spans: readonly ReadableSpan[]) {
  const byResource = new Map<ReadableSpan['resource'], Map<string, ReadableSpan[]>>();
  for (const s of spans) {
    const scopes = byResource.get(s.resource) ?? new Map<string, ReadableSpan[]>();
    byResource.set(s.resource, scopes);
    const key = `${s.instrumentationScope.name}@${s.instrumentationScope.version ?? ''}`;
    scopes.set(key, [...(scopes.get(key) ?? []), s]);
  }
  return {
    resourceSpans: [...byResource].map(([resource, scopes]) => ({
      resource: { attributes: keyValues(resource.attributes) },
      scopeSpans: [...scopes.values()].map((group) => ({
        scope: { name: group[0]!.instrumentationScope.name, ...(group[0]!.instrumentationScope.version ? { version: group[0]!.instrumentationScope.version } : {}) },
        spans: group.map(span),
      })),
    })),
  };
}
