import { EgressDeniedError } from '@pullthrough/egress';
import { RegistryError, UpstreamThrottledError, UpstreamUnavailableError } from '@pullthrough/oci';
import { annotateUpstreamError } from './upstream-answers.js';
import type { UpstreamEndpoint, UpstreamTarget } from './upstream-target.js';

/**
 * Is this failure "that upstream is unavailable", so the next registry of the rule may serve?
 * 5xx, 429, timeouts, refused or reset connections, an open breaker (all UpstreamUnavailable or
 * UpstreamThrottled) and an egress refusal at connect time. Not 404/401/403: those are answers.
 */
export function isUpstreamUnavailable(err: unknown): boolean {
  return err instanceof UpstreamUnavailableError || err instanceof UpstreamThrottledError || err instanceof EgressDeniedError;
}

/** The target as seen from one of its upstreams: errors and jobs name the registry that answered. */
export function servedVia(target: UpstreamTarget, endpoint: UpstreamEndpoint): UpstreamTarget {
  if (endpoint.registry === target.upstreamRegistry && endpoint.repository === target.upstreamRepository) return target;
  return { ...target, upstreamRegistry: endpoint.registry, upstreamRepository: endpoint.repository, client: endpoint.client };
}

/**
 * Call the rule's upstreams in order (source registry first, then each fallback) until one
 * answers; move on only when one is unavailable (isUpstreamUnavailable). Each registry has its own
 * breaker in the client pool, so an open one is skipped at once. Resolves with the answer and the
 * target view of the registry that gave it; rejects with the last failure, annotated with every
 * registry tried. A failure after the answer (a body cut mid-stream) is not retried elsewhere.
 */
export async function withFailover<T>(target: UpstreamTarget, call: (via: UpstreamTarget) => Promise<T>): Promise<{ value: T; via: UpstreamTarget }> {
  const upstreams = target.upstreams.length > 0 ? target.upstreams : [{ registry: target.upstreamRegistry, repository: target.upstreamRepository, client: target.client }];
  const tried: string[] = [];
  for (const [i, endpoint] of upstreams.entries()) {
    const via = servedVia(target, endpoint);
    tried.push(endpoint.registry);
    let value: T;
    try {
      value = await call(via);
    } catch (err) {
      annotateUpstreamError(err, via);
      const next = upstreams[i + 1];
      if (!next || !isUpstreamUnavailable(err)) {
        if (tried.length > 1 && err instanceof RegistryError) err.annotate({ upstreamsTried: tried });
        throw err;
      }
      target.observer?.upstreamSkipped(target.rule.name, endpoint.registry, next.registry, err);
      continue;
    }
    target.observer?.upstreamAnswered(target.rule.name, endpoint.registry, i > 0);
    return { value, via };
  }
  throw new Error('unreachable: a target has at least one upstream');
}
