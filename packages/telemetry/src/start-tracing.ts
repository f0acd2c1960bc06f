import { context, propagation, trace } from '@opentelemetry/api';
import { createEgressAgent, EgressPolicy } from '@pullthrough/egress';
import type { TelemetrySettings } from './telemetry-config.js';

/** The SDK (tracer provider, exporter), loaded only when tracing is on: see tracing-sdk.ts. */
type TracingSdk = typeof import('./tracing-sdk.js');

export interface TracingOptions {
  /** `pullthrough-frontend` or `pullthrough-hydrator` (the resource's service.name). */
  serviceName: string;
  /** PULLTHROUGH_EGRESS_ALLOW: the collector connection goes through the egress policy too. */
  egressAllow: readonly string[];
  /** Told once per collector outage (the message holds no secret). */
  onExportError?: (message: string) => void;
  /** How often finished spans are sent (default 2 s). */
  exportDelayMs?: number;
}

export interface Tracing {
  readonly enabled: boolean;
  /** Send the spans finished so far (tests, shutdown). */
  flush(): Promise<void>;
  /** Flush, then stop: the API goes back to its no-op tracer. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, flush: async () => undefined, shutdown: async () => undefined };

/** One tracing setup per process: the API's globals (tracer provider, context manager, propagator) are process-wide. */
let active: Tracing | undefined;

/** Whether this process started tracing (and has not shut it down): with it off every span is a no-op, and per-request ones can be skipped. */
export function tracingActive(): boolean {
  return active !== undefined;
}

/** The `host:port` of an endpoint URL, as an egress allow-list entry. */
function allowEntryOf(endpoint: URL): string {
  const port = endpoint.port || (endpoint.protocol === 'https:' ? '443' : '80');
  return `${endpoint.hostname}:${port}`;
}

/**
 * Start tracing when PULLTHROUGH_OTLP_ENDPOINT is set: a tracer provider (parent-based sampling at
 * PULLTHROUGH_TRACE_SAMPLE_RATIO), the AsyncLocalStorage context manager, W3C trace context, and a
 * batching OTLP/HTTP JSON exporter. The exporter dials through its own egress policy: the operator's
 * allow-list plus the collector's own `host:port` (naming the endpoint is the operator allowing it);
 * upstreams and webhooks are not given that exception. Unset: nothing is registered (no-op API) and
 * the OpenTelemetry SDK is never loaded (about 200 modules).
 */
export function startTracing(settings: TelemetrySettings, options: TracingOptions): Tracing {
  const endpoint = settings.PULLTHROUGH_OTLP_ENDPOINT;
  if (!endpoint) return OFF;
  if (active) throw new Error('tracing is already started in this process');
  const policy = new EgressPolicy({ allow: [...options.egressAllow, allowEntryOf(new URL(endpoint))] });
  const dispatcher = createEgressAgent(policy, { connectTimeoutMs: 5000 });
  const { registerProvider } = require('./tracing-sdk.js') as TracingSdk;
  const provider = registerProvider({
    endpoint,
    serviceName: options.serviceName,
    sampleRatio: settings.PULLTHROUGH_TRACE_SAMPLE_RATIO,
    dispatcher,
    exportDelayMs: options.exportDelayMs ?? 2000,
    ...(options.onExportError ? { onExportError: options.onExportError } : {}),
  });
  const tracing: Tracing = {
    enabled: true,
    flush: () => provider.forceFlush(),
    async shutdown() {
      if (active !== tracing) return;
      active = undefined;
      await provider.shutdown().catch(() => undefined);
      trace.disable();
      context.disable();
      propagation.disable();
      await dispatcher.close().catch(() => undefined);
    },
  };
  active = tracing;
  return tracing;
}
