import { DelayedError, formatHydrationFailure, type HydrationJob, hydrationJobSchema, type HydrationResult, type Job, type RegistryLease, type RegistrySemaphore, UnrecoverableError } from '@pullthrough/hydration-jobs';
import type { CacheRuleSet } from '@pullthrough/cache-rules';
import { upstreamTargetForJob, type ArtifactHydrator, type Logger, type UpstreamClients, type UpstreamTarget } from '@pullthrough/pull-through';
import type { RegistryStore } from '@pullthrough/storage';
import { hydratedEvents, hydrationFailedEvent, type WebhookEvent } from '@pullthrough/webhooks';
import { hydratedFacts } from './hydrated-facts.js';
import { inJobSpan } from './job-span.js';
import { codeOf, failureOf, isPermanent, markPermanent, retryAfterOf } from './hydration-failures.js';

/** Retry-After deferrals per job before a "later" counts as a failed attempt. */
export const MAX_DEFERRALS = 50;

export interface HydrationProcessorDeps {
  hydrator: ArtifactHydrator;
  /** Clients for a job's upstream registries (the target itself comes from the current rule). */
  clients: UpstreamClients;
  /** The cache rules as stored now: every job is checked against them before it runs. */
  currentRules: () => Promise<CacheRuleSet>;
  store: RegistryStore;
  logger: Logger;
  /** Per-upstream-registry concurrency across processes (absent: unlimited). */
  semaphore?: RegistrySemaphore;
  /** Where cache.* and push events go (absent: none). */
  publish?: (events: WebhookEvent[]) => Promise<unknown>;
  /** `request.host` of events. */
  eventHost: string;
  /** Cap on a Retry-After the job waits out. */
  maxDeferSeconds: number;
  /** How long a job waits when its registry is at its concurrency limit (jittered up to 2x). */
  busyDelayMs?: number;
}

/**
 * The `hydration` queue's processor.
 * - An upstream that says "later" (429/503 with Retry-After, or our breaker open) defers the job
 *   until then, capped, without spending an attempt (moveToDelayed + DelayedError), up to
 *   MAX_DEFERRALS times per job.
 * - A registry at its concurrency limit defers the job briefly the same way.
 * - A job whose rule is gone, or whose rule now gives its repository another upstream or
 *   credential set, is refused (JOB_RULE_MISMATCH, `rule-config`): the target and its credential
 *   set come from the current rule, never from the job.
 * - 404s, invalid manifests, rule errors, a 401/403 that survives a credential refresh, and a
 *   digest mismatch seen twice fail for good (UnrecoverableError), recorded with their category.
 * - Anything else is transient: it throws, and BullMQ retries with exponential backoff and jitter.
 */
export function hydrationProcessor(deps: HydrationProcessorDeps) {
  const attempt = processHydration(deps);
  return (job: Job, token?: string): Promise<HydrationResult> =>
    inJobSpan('hydration job', job, jobAttributes(job.data), async (span) => {
      const result = await attempt(job, token);
      span.setAttributes({ 'pullthrough.hydration.blobs_fetched': result.blobsFetched, 'pullthrough.hydration.bytes_fetched': result.bytesFetched });
      return result;
    });
}

/** Names only (rule, repository, registry), never credentials: the job data holds none either. */
function jobAttributes(data: Record<string, unknown> | undefined) {
  const text = (v: unknown) => (typeof v === 'string' ? v.slice(0, 300) : '');
  return { 'pullthrough.rule': text(data?.ruleName), 'pullthrough.repository': text(data?.downstreamRepository), 'pullthrough.upstream': text(data?.upstreamRegistry), 'pullthrough.digest': text(data?.digest) };
}

function processHydration(deps: HydrationProcessorDeps) {
  return async (job: Job, token?: string): Promise<HydrationResult> => {
    const parsed = hydrationJobSchema.safeParse(job.data);
    if (!parsed.success) {
      const message = `invalid hydration job: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`;
      throw new UnrecoverableError(formatHydrationFailure({ code: 'JOB_INVALID', category: 'invalid-job', message }));
    }
    const data = parsed.data;
    const log = deps.logger.child({ jobId: job.id, repository: data.downstreamRepository, digest: data.digest, rule: data.ruleName, requestId: data.requestId });
    const defer = async (ms: number, why: string): Promise<never> => {
      log.info({ delayMs: ms, why }, 'hydration deferred');
      await job.moveToDelayed(Date.now() + ms, token);
      throw new DelayedError();
    };

    let lease: RegistryLease | undefined;
    if (deps.semaphore) {
      lease = await deps.semaphore.tryAcquire(data.upstreamRegistry, job.id!);
      if (!lease) {
        const base = deps.busyDelayMs ?? 1000;
        await defer(Math.round(base + Math.random() * base), `upstream ${data.upstreamRegistry} is at its hydration concurrency limit`);
      }
    }
    const started = Date.now();
    try {
      const target = upstreamTargetForJob(data, await deps.currentRules(), deps.clients, data.platforms);
      const result = await hydrateWithSecondChance(deps, data, target, job, log);
      log.info({ ...result, ms: Date.now() - started }, 'hydrated');
      if (deps.publish) await deps.publish(hydratedEvents(await hydratedFacts(deps.store, data, result), eventContext(deps, data)));
      return result;
    } catch (err) {
      if (err instanceof DelayedError || err instanceof UnrecoverableError) throw err;
      const failure = failureOf(err);
      const retryAfter = retryAfterOf(err);
      const deferrals = typeof job.data.deferrals === 'number' ? (job.data.deferrals as number) : 0;
      if (retryAfter !== undefined && deferrals < MAX_DEFERRALS) {
        // Counted in the job data, so an upstream that never stops saying "later" eventually spends attempts.
        await job.updateData({ ...job.data, deferrals: deferrals + 1 });
        const seconds = Math.min(retryAfter, deps.maxDeferSeconds);
        await defer(seconds * 1000 + Math.round(Math.random() * 250), failure.message);
      }
      const attempt = job.attemptsMade + 1;
      const last = isPermanent(err) || attempt >= (job.opts.attempts ?? 1);
      log.warn({ code: failure.code, category: failure.category, err: failure.message, attempt, final: last }, 'hydration failed');
      if (last && deps.publish) {
        await deps.publish([hydrationFailedEvent({ repository: data.downstreamRepository, digest: data.digest, ...(data.tag ? { tag: data.tag } : {}), failure }, eventContext(deps, data))]).catch((e: unknown) =>
          log.warn({ err: (e as Error).message }, 'could not publish cache.hydration_failed'),
        );
      }
      if (isPermanent(err)) throw new UnrecoverableError(formatHydrationFailure(failure));
      throw new Error(formatHydrationFailure(failure), { cause: err });
    } finally {
      await lease?.release().catch(() => undefined);
    }
  };
}

/**
 * Run the walk; after an upstream 401/403, refresh credentials (drop cached tokens, look secrets
 * up again) and walk once more; after a digest mismatch, walk once more. The same failure twice is permanent.
 */
async function hydrateWithSecondChance(deps: HydrationProcessorDeps, data: HydrationJob, target: UpstreamTarget, job: Job, log: Logger): Promise<HydrationResult> {
  const walk = () => deps.hydrator.hydrate(data, target, (p) => job.updateProgress({ ...p }));
  try {
    return await walk();
  } catch (err) {
    const code = codeOf(err);
    if (code !== 'UPSTREAM_AUTH' && code !== 'DIGEST_MISMATCH') throw err;
    if (code === 'UPSTREAM_AUTH') target.client.invalidateCredentials();
    log.info({ code }, code === 'UPSTREAM_AUTH' ? 'upstream refused access; retrying once with refreshed credentials' : 'digest mismatch; retrying the walk once');
    try {
      return await walk();
    } catch (again) {
      throw codeOf(again) === code ? markPermanent(again) : again;
    }
  }
}

function eventContext(deps: HydrationProcessorDeps, data: HydrationJob) {
  return { host: deps.eventHost, ...(data.requestId ? { requestId: data.requestId } : {}) };
}
