import { context, trace, type Context, type Link } from '@opentelemetry/api';
import type { W3CTraceContextPropagator } from '@opentelemetry/core';

/**
 * The W3C propagator, made on first use: `@opentelemetry/core` is not loaded by a process that never
 * carries a trace (tracing off: no span records, job data holds no traceparent).
 */
let w3c: W3CTraceContextPropagator | undefined;
const propagator = (): W3CTraceContextPropagator =>
  (w3c ??= new (require('@opentelemetry/core') as typeof import('@opentelemetry/core')).W3CTraceContextPropagator());
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

const setter = { set: (carrier: Record<string, string>, key: string, value: string) => void (carrier[key] = value) };
const getter = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};

/**
 * The W3C `traceparent` of the active span, for job data (a hydration job continues the trace of
 * the pull that enqueued it). Undefined when no span is recording (tracing off, not sampled):
 * job data then carries nothing.
 */
export function currentTraceparent(active: Context = context.active()): string | undefined {
  const span = trace.getSpan(active);
  if (!span?.isRecording()) return undefined;
  const carrier: Record<string, string> = {};
  propagator().inject(active, carrier, setter);
  return carrier.traceparent;
}

/** Is this a well-formed W3C traceparent (version 00 shape)? For job schemas. */
export function isTraceparent(value: string): boolean {
  return TRACEPARENT.test(value);
}

/** A context whose remote parent is `traceparent` (the root context when absent or malformed). */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (!traceparent || !isTraceparent(traceparent)) return context.active();
  return propagator().extract(context.active(), { traceparent }, getter);
}

/** A span link to the span named by `traceparent` (none when absent or malformed). */
export function linkTo(traceparent: string | undefined): Link[] {
  if (!traceparent || !isTraceparent(traceparent)) return [];
  const parent = trace.getSpanContext(contextFromTraceparent(traceparent));
  return parent ? [{ context: parent }] : [];
}
