import { UnrecoverableError, type Job } from 'bullmq';
import { hydrationJobSchema, type HydrationResult } from '@pullthrough/hydration-jobs';
import { RegistryError } from '@pullthrough/oci';
import type { ArtifactHydrator, Logger, UpstreamResolver } from '@pullthrough/pull-through';

/** Upstream answers that retrying will not change. */
const PERMANENT = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN', 'MANIFEST_INVALID', 'UPSTREAM_AUTH', 'RULE_CONFIG']);

export interface HydrationProcessorDeps {
  hydrator: ArtifactHydrator;
  upstreams: UpstreamResolver;
  logger: Logger;
}

/** The `hydration` queue's processor: permanent failures stop retrying, transient ones retry with backoff. */
export function hydrationProcessor(deps: HydrationProcessorDeps) {
  return async (job: Job): Promise<HydrationResult> => {
    const parsed = hydrationJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`invalid hydration job: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
    const data = parsed.data;
    const log = deps.logger.child({ jobId: job.id, repository: data.downstreamRepository, digest: data.digest, rule: data.ruleName, requestId: data.requestId });
    const target = deps.upstreams.forCoordinates(data, data.platforms);
    const started = Date.now();
    try {
      const result = await deps.hydrator.hydrate(data, target, (p) => job.updateProgress({ ...p }));
      log.info({ ...result, ms: Date.now() - started }, 'hydrated');
      return result;
    } catch (err) {
      const code = err instanceof RegistryError ? err.code : 'UNKNOWN';
      const message = err instanceof Error ? err.message : String(err);
      log.warn({ code, err: message, attempt: job.attemptsMade + 1 }, 'hydration failed');
      if (PERMANENT.has(code)) throw new UnrecoverableError(`${code}: ${message}`);
      throw err;
    }
  };
}
