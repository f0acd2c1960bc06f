import type { Request } from 'express';
import { mirrorRepository, type CacheRuleSet } from '@pullthrough/cache-rules';
import { BlobUnknownError, isKnownError, ManifestUnknownError, NameUnknownError, RegistryError, toWireError, UnauthorizedError } from '@pullthrough/oci';
import type { Logger } from '@pullthrough/pull-through';

export interface MirrorOptions {
  /** The live cache rules. */
  rules: () => CacheRuleSet;
  /** host[:port] names of this cache (PULLTHROUGH_PUBLIC_HOSTS): an `ns` naming us is no mirror request. */
  selfHosts: readonly string[];
  /** A mirror manifest request not answered within this many milliseconds is a 404 (containerd moves on). */
  manifestBudgetMs: number;
}

/** A request carrying containerd's `?ns=<registry host>`, and the downstream repository serving it (if any). */
export interface MirrorRequest {
  ns: string;
  /** `ns`: the path was the upstream repository; `path`: the path is ours (the override_path form). */
  form?: 'ns' | 'path';
  downstreamRepository?: string;
  /** Why no rule serves it. */
  reason?: 'invalid-namespace' | 'no-rule';
}

/** The request's `ns` values, read from the raw query (containerd URL-encodes it: `127.0.0.1%3A5000`). */
function namespaces(req: Request): string[] {
  const q = req.originalUrl.indexOf('?');
  if (q < 0) return [];
  try {
    return new URLSearchParams(req.originalUrl.slice(q + 1)).getAll('ns');
  } catch {
    return ['\u0000'];
  }
}

/**
 * The mirror side of a request for `repository`: undefined without `ns` or when `ns` names this
 * cache itself (a hosts.toml whose mirror is the cache's own name); else the rule's downstream
 * repository for `<ns>/<repository>`, or the reason there is none.
 */
export function mirrorRequest(req: Request, repository: string, options: MirrorOptions): MirrorRequest | undefined {
  const all = namespaces(req);
  if (all.length === 0) return undefined;
  const ns = all[0]!;
  const lower = ns.toLowerCase();
  if (all.length === 1 && (lower === req.headers.host?.toLowerCase() || options.selfHosts.some((h) => h.toLowerCase() === lower))) return undefined;
  if (all.length > 1) return { ns: ns.slice(0, 300), reason: 'invalid-namespace' };
  const found = mirrorRepository(options.rules(), ns, repository);
  if (found.downstreamRepository === undefined) return { ns: ns.slice(0, 300), reason: found.reason };
  return { ns, form: found.form, downstreamRepository: found.downstreamRepository };
}

type ResourceKind = 'manifest' | 'blob' | 'tags' | 'referrers' | 'upload';

/** The "not here" error of a resource: containerd moves to its next host on a 404. */
function notHere(kind: ResourceKind, message: string, detail: Record<string, unknown>): RegistryError {
  if (kind === 'manifest') return new ManifestUnknownError(message, { detail });
  if (kind === 'blob') return new BlobUnknownError(message, { detail });
  return new NameUnknownError(message, { detail });
}

/** A mirror request no cache rule covers: 404 at once, naming why. */
export function mirrorUncovered(kind: ResourceKind, mirror: MirrorRequest, repository: string): RegistryError {
  const why = mirror.reason === 'invalid-namespace' ? `"ns" is not one registry host[:port]` : `no cache rule covers ${mirror.ns}/${repository}`;
  return notHere(kind, `mirror: ${why}`, { ns: mirror.ns, repository, reason: mirror.reason });
}

/**
 * What a failed mirror request answers: containerd falls back to its next host only on a 404 (any
 * other status fails the pull), so everything the cache cannot serve (upstream down or not found,
 * breaker open, throttled, refused by the egress policy, not permitted, a bug) is a 404 whose error
 * names the original code, rule and category. A 401 stays a 401 (its challenge: logging in helps),
 * a 416 stays (the blob is here, the range is not).
 */
export function mirrorFallback(err: unknown, kind: ResourceKind, mirror: MirrorRequest, logger: Logger): unknown {
  if (err instanceof UnauthorizedError) return err;
  const wire = toWireError(err);
  if (wire.status === 404 || wire.status === 416) {
    if (err instanceof RegistryError) err.annotate({ ns: mirror.ns });
    return err;
  }
  if (!isKnownError(err)) logger.error({ err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'unexpected error (mirror request answered 404)');
  const detail = typeof wire.detail === 'object' && wire.detail !== null ? (wire.detail as Record<string, unknown>) : {};
  const category = err instanceof RegistryError && err.category ? { category: err.category } : {};
  return notHere(kind, `mirror: the cache cannot serve this (${wire.code}): ${wire.message}`, { ...detail, ...category, ns: mirror.ns, reason: wire.code, status: wire.status });
}

/**
 * `work`, or a 404 MANIFEST_UNKNOWN when it takes longer than `budgetMs` (containerd waits for
 * response headers without a timeout of its own). The work goes on: a slow import still lands in
 * the cache, so the next pull is a hit.
 */
export async function withinBudget<T>(work: Promise<T>, budgetMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new ManifestUnknownError(`mirror: the upstream did not answer within ${budgetMs} ms; try the next host`, { detail: { reason: 'mirror-budget', budgetMs } }));
    }, budgetMs);
  });
  work.catch(() => undefined);
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
