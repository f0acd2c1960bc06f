export { telemetryConfigFields, type TelemetrySettings } from './telemetry-config.js';
export { startTracing, tracingActive, type Tracing, type TracingOptions } from './start-tracing.js';
// The OTLP exporter is not re-exported: this index must not load the OpenTelemetry SDK (start-tracing.ts
// loads it when tracing is on).
export type { OtlpHttpExporterOptions } from './otlp-http-exporter.js';
export { tracer, inSpan, recordFailure, errorType, context, trace, SpanKind, SpanStatusCode, type Attributes, type Span } from './spans.js';
export { currentTraceparent, contextFromTraceparent, isTraceparent, linkTo } from './trace-context.js';
