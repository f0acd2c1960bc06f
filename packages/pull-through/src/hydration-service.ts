import type { CacheRule } from '@pullthrough/cache-rules';
import type { HydrationJobInput, HydrationStatus, HydrationStatusReader } from '@pullthrough/hydration-jobs';
import { parseReference, RegistryError } from '@pullthrough/oci';
import type { PullThroughRegistry } from './pull-through-registry.js';
import type { UpstreamResolver } from './upstream-target.js';

export interface PrefetchResult {
  reference: string;
  digest?: string;
  jobId?: string;
  error?: { code: string; message: string };
}

/** A rule, repository or reference the caller got wrong (the admin API answers 4xx naming `field`). */
export class HydrationRequestError extends Error {
  constructor(
    readonly status: 404 | 422,
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'HydrationRequestError';
  }
}

/** The hydration queue (Redis) cannot be read right now: a retryable condition, not a bug. */
export class HydrationQueueUnavailableError extends Error {
  readonly retryAfterSeconds = 5;
  constructor(cause: unknown) {
    super('the hydration queue (Redis) is unreachable; retry later', { cause });
    this.name = 'HydrationQueueUnavailableError';
  }
}

export interface HydrationServiceDeps {
  registry: PullThroughRegistry;
  upstreams: UpstreamResolver;
  rule: (name: string) => CacheRule | undefined;
  status: HydrationStatusReader;
  /** Enqueue without delay, starting a job that waits out an enqueue delay (prefetch). */
  enqueueNow: (job: HydrationJobInput) => Promise<string>;
}

/**
 * The admin plane's hydration operations: status by tag or digest (a tag resolves through the
 * local tag record) with optional long-poll, and prefetch (resolve references through the
 * pull-through registry, then enqueue hydration without any client pull).
 */
export class HydrationService {
  constructor(private readonly deps: HydrationServiceDeps) {}

  async status(repository: string, reference: string, waitMs = 0, signal?: AbortSignal): Promise<HydrationStatus & { reference: string }> {
    const ref = parseReference(reference);
    let digest: string | undefined;
    if (ref.kind === 'digest') digest = ref.digest;
    else digest = (await this.deps.registry.store.getTag(repository, ref.tag))?.digest;
    if (!digest) return { repository, reference, state: 'unknown' };
    let status: HydrationStatus;
    try {
      status = waitMs > 0 ? await this.deps.status.wait(repository, digest, waitMs, signal) : await this.deps.status.get(repository, digest);
    } catch (err) {
      // Local state was readable; only the queue is not (Redis down): that is a 503, not a 500.
      throw new HydrationQueueUnavailableError(err);
    }
    return { ...status, reference };
  }

  /** Resolve each reference (importing its manifest when missing) and enqueue its hydration now. */
  async prefetch(ruleName: string, repository: string | undefined, references: string[]): Promise<PrefetchResult[]> {
    const rule = this.deps.rule(ruleName);
    if (!rule) throw new HydrationRequestError(404, 'name', `cache rule "${ruleName}" does not exist`);
    const repo = repository ?? (rule.targetRepository.endsWith('/*') ? undefined : rule.targetRepository);
    if (!repo) throw new HydrationRequestError(422, 'repository', `rule "${ruleName}" has a wildcard target (${rule.targetRepository}): name the repository`);
    const target = this.deps.upstreams.resolve(repo);
    if (!target || target.rule.name !== ruleName) throw new HydrationRequestError(422, 'repository', `${repo} is not mapped by rule "${ruleName}"`);
    const results: PrefetchResult[] = [];
    for (const reference of references) {
      try {
        const ref = parseReference(reference);
        const manifest = await this.deps.registry.getManifest(repo, ref);
        const jobId = await this.deps.enqueueNow({
          downstreamRepository: repo,
          ruleName,
          upstreamRegistry: target.upstreamRegistry,
          upstreamRepository: target.upstreamRepository,
          digest: manifest.digest,
          ...(ref.kind === 'tag' ? { tag: ref.tag } : {}),
          ...(rule.credentialSetName ? { credentialSetName: rule.credentialSetName } : {}),
          platforms: rule.platforms ?? 'pulled',
          enqueuedAt: new Date().toISOString(),
        });
        results.push({ reference, digest: manifest.digest, jobId });
      } catch (err) {
        const code = err instanceof RegistryError ? err.code : 'UNKNOWN';
        results.push({ reference, error: { code, message: err instanceof RegistryError ? err.message : 'prefetch failed' } });
      }
    }
    return results;
  }
}
