import { hostname } from 'node:os';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Dispatcher } from 'undici';
import { OtlpHttpExporter } from './otlp-http-exporter.js';

export interface ProviderOptions {
  endpoint: string;
  serviceName: string;
  sampleRatio: number;
  dispatcher: Dispatcher;
  exportDelayMs: number;
  onExportError?: (message: string) => void;
}

/**
 * The OpenTelemetry SDK half of tracing: a registered tracer provider (parent-based sampling, the
 * AsyncLocalStorage context manager, W3C trace context) with a batching OTLP/HTTP JSON exporter.
 * `start-tracing.ts` loads this module only when an endpoint is configured, so a process without
 * tracing never loads the SDK (only the no-op API).
 */
export function registerProvider(options: ProviderOptions): NodeTracerProvider {
  const exporter = new OtlpHttpExporter({
    endpoint: options.endpoint,
    dispatcher: options.dispatcher,
    ...(options.onExportError ? { onError: options.onExportError } : {}),
  });
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName, 'service.instance.id': hostname() }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio) }),
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: options.exportDelayMs, maxQueueSize: 4096 })],
  });
  provider.register();
  return provider;
}
