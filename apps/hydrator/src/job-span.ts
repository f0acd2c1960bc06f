import { DelayedError, type Job, parseHydrationFailure } from '@pullthrough/hydration-jobs';
import { context, contextFromTraceparent, recordFailure, trace, SpanKind, tracer, type Attributes, type Span } from '@pullthrough/telemetry';

/**
 * Run one job attempt in a consumer span that continues the trace named by the job data's
 * `traceparent` (the pull, prefetch or event that enqueued it): same trace id, the enqueuing span as
 * parent. No traceparent (tracing was off there, old jobs): a new trace. A deferral (DelayedError)
 * is not a failure; a failure is marked with its code and category, never its message.
 */
export function inJobSpan<T>(name: string, job: Job, attributes: Attributes, run: (span: Span) => Promise<T>): Promise<T> {
  const traceparent = typeof job.data?.traceparent === 'string' ? (job.data.traceparent as string) : undefined;
  const parent = contextFromTraceparent(traceparent);
  const span = tracer().startSpan(
    name,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.destination.name': job.queueName,
        'messaging.message.id': String(job.id),
        'pullthrough.job.attempt': job.attemptsMade + 1,
        ...attributes,
      },
    },
    parent,
  );
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await run(span);
    } catch (err) {
      if (err instanceof DelayedError) {
        span.setAttribute('pullthrough.job.deferred', true);
      } else {
        recordFailure(span, err);
        const failure = parseHydrationFailure((err as Error)?.message);
        if (failure.code !== 'UNKNOWN') span.setAttributes({ 'error.type': failure.code, 'pullthrough.failure.category': failure.category });
      }
      throw err;
    } finally {
      span.end();
    }
  });
}
