import { createServer } from 'node:http';
import { closeServer, listenOnLoopback } from './http-listen.js';

/** One span as received, flattened: attribute values as JSON scalars, the resource's service.name alongside. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** OTLP span kind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean | unknown[]>;
  links: Array<{ traceId: string; spanId: string }>;
  status: { code?: number; message?: string };
}

export interface OtlpReceiver {
  /** The base URL to configure (`http://127.0.0.1:<port>`); spans are POSTed to `/v1/traces`. */
  url: string;
  spans: ReceivedSpan[];
  /** Export requests received (any body). */
  requests: number;
  /** Every raw request body (to look for strings that must never be exported). */
  bodies: string[];
  stop(): Promise<void>;
}

type AnyValue = { stringValue?: string; boolValue?: boolean; intValue?: string | number; doubleValue?: number; arrayValue?: { values?: AnyValue[] } };
type KeyValue = { key: string; value: AnyValue };

function valueOf(v: AnyValue): string | number | boolean | unknown[] {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return (v.arrayValue?.values ?? []).map(valueOf);
}

const attributesOf = (list: KeyValue[] | undefined) => Object.fromEntries((list ?? []).map((kv) => [kv.key, valueOf(kv.value)]));

/**
 * A minimal OTLP/HTTP collector on 127.0.0.1 for tests: accepts `POST /v1/traces` with an OTLP/JSON
 * ExportTraceServiceRequest, answers 200 `{}`, and records every span. Anything else is 404; a body
 * that is not JSON is 400 (and recorded in `bodies`).
 */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const receiver: Omit<OtlpReceiver, 'url' | 'stop'> = { spans: [], requests: 0, bodies: [] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') return res.writeHead(404).end();
      receiver.requests++;
      const text = Buffer.concat(chunks).toString('utf8');
      receiver.bodies.push(text);
      let body: { resourceSpans?: Array<{ resource?: { attributes?: KeyValue[] }; scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }> };
      try {
        body = JSON.parse(text);
      } catch {
        return res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"not JSON"}');
      }
      for (const rs of body.resourceSpans ?? []) {
        const service = String(attributesOf(rs.resource?.attributes)['service.name'] ?? '');
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            receiver.spans.push({
              service,
              traceId: String(s.traceId),
              spanId: String(s.spanId),
              ...(s.parentSpanId ? { parentSpanId: String(s.parentSpanId) } : {}),
              name: String(s.name),
              kind: Number(s.kind),
              attributes: attributesOf(s.attributes as KeyValue[]),
              links: ((s.links as Array<{ traceId: string; spanId: string }>) ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
              status: (s.status as ReceivedSpan['status']) ?? {},
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  const port = await listenOnLoopback(server);
  return Object.assign(receiver, { url: `http://127.0.0.1:${port}`, stop: () => closeServer(server) });
}
