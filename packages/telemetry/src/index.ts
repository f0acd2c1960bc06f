export { telemetryConfigFields, type TelemetrySettings } from './telemetry-config.js';
export { startTracing, type Tracing, type TracingOptions } from './start-tracing.js';
export { OtlpHttpExporter, type OtlpHttpExporterOptions } from './otlp-http-exporter.js';
export { exportTraceRequest } from './otlp-json.js';
export { tracer, inSpan, recordFailure, errorType, context, trace, SpanKind, SpanStatusCode, type Attributes, type Span } from './spans.js';
export { currentTraceparent, contextFromTraceparent, isTraceparent, linkTo } from './trace-context.js';
