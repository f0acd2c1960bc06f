import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import type { Dispatcher } from 'undici';
import { request } from '@pullthrough/egress';
import { exportTraceRequest } from './otlp-json.js';

export interface OtlpHttpExporterOptions {
  /** The collector's base URL; spans go to `<endpoint>/v1/traces`. */
  endpoint: string;
  /** Every connection goes through it (the app's egress agent). */
  dispatcher: Dispatcher;
  /** A request not answered within this long fails (the batch is dropped). */
  timeoutMs?: number;
  /** Told once per outage (first failure after a success), with a message that holds no secret. */
  onError?: (message: string) => void;
}

/**
 * OTLP/HTTP JSON span exporter over undici, so the connection to the collector goes through the
 * egress policy like every other outbound one. A failed batch is dropped (tracing never holds
 * memory or a request for a collector that is down).
 */
export class OtlpHttpExporter implements SpanExporter {
  private readonly url: URL;
  private readonly inFlight = new Set<Promise<void>>();
  private failing = false;
  private stopped = false;

  constructor(private readonly options: OtlpHttpExporterOptions) {
    this.url = new URL(`${options.endpoint.replace(/\/+$/, '')}/v1/traces`);
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.stopped) return resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
    const sent = this.send(JSON.stringify(exportTraceRequest(spans))).then(
      () => {
        this.failing = false;
        resultCallback({ code: ExportResultCode.SUCCESS });
      },
      (err: unknown) => {
        const message = `OTLP export to ${this.url.host} failed: ${(err as Error).message}`;
        if (!this.failing) this.options.onError?.(message);
        this.failing = true;
        resultCallback({ code: ExportResultCode.FAILED, error: new Error(message) });
      },
    );
    this.inFlight.add(sent);
    void sent.finally(() => this.inFlight.delete(sent));
  }

  private async send(body: string): Promise<void> {
    const res = await request(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      dispatcher: this.options.dispatcher,
      headersTimeout: this.options.timeoutMs ?? 10_000,
      bodyTimeout: this.options.timeoutMs ?? 10_000,
    });
    await res.body.dump();
    if (res.statusCode < 200 || res.statusCode >= 300) throw new Error(`collector answered ${res.statusCode}`);
  }

  async forceFlush(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  async shutdown(): Promise<void> {
    this.stopped = true;
    await this.forceFlush();
  }
}
