import { context, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';

/** The tracer every package uses: the no-op one unless an app started tracing (startTracing). */
export function tracer(): Tracer {
  return trace.getTracer('pullthrough');
}

/** A stable, secret-free name for an error: its domain code, or its class. Never its message (it may echo input). */
export function errorType(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code)) return code;
  return err instanceof Error ? err.name : 'Error';
}

/** Mark a span failed with the error's type (no message, no stack: they may echo input). */
export function recordFailure(span: Span, err: unknown): void {
  const type = errorType(err);
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/**
 * Run `fn` in a new active span (a child of the current one), ending it when `fn` settles; a
 * rejection marks it failed. With tracing off the span is a no-op and this costs a function call.
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      recordFailure(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

export { context, trace, SpanKind, SpanStatusCode, type Attributes, type Span };
