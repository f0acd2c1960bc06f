import { z } from 'zod';

/**
 * Tracing settings, shared by both apps' config.ts (README "Telemetry").
 * PULLTHROUGH_OTLP_ENDPOINT: the OTLP/HTTP base URL of a collector (`http://otel-collector:4318`); spans are
 * POSTed as JSON to `<endpoint>/v1/traces`. Unset or empty: tracing is off (no exporter, no context manager).
 * Only this variable turns tracing on: the standard OTEL_EXPORTER_OTLP_ENDPOINT is not read, so an
 * environment-wide OpenTelemetry setting never opens an outbound connection the operator did not name here.
 */
export const telemetryConfigFields = {
  PULLTHROUGH_OTLP_ENDPOINT: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const text = v?.trim() ?? '';
      if (text === '') return undefined;
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL such as http://otel-collector:4318' });
        return z.NEVER;
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must be an http or https URL' });
      if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
      if (url.search || url.hash) ctx.addIssue({ code: 'custom', message: 'must not have a query or fragment' });
      return url.href.replace(/\/+$/, '');
    }),
  /** Share of new traces recorded (0..1); a trace continued from a job's traceparent follows its parent's decision. */
  PULLTHROUGH_TRACE_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
};

export interface TelemetrySettings {
  PULLTHROUGH_OTLP_ENDPOINT?: string | undefined;
  PULLTHROUGH_TRACE_SAMPLE_RATIO: number;
}
