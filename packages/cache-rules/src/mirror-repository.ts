import type { CacheRule } from './cache-rule.js';
import type { CacheRuleSet } from './cache-rule-set.js';
import { normalizeRegistryHost } from './docker-hub.js';
import { parseTargetRepository } from './repository-pattern.js';
import { parseSourceRepository, registryHostIssues } from './upstream-source.js';

/**
 * How a mirror request (containerd's `?ns=<registry host>`) maps to a downstream repository:
 * `path` when the request path already is a downstream repository of a rule for that registry (the
 * `override_path` form, which containerd tags with `ns` too), `ns` when the path is the upstream
 * repository and a rule's source covers `<ns>/<path>`; otherwise why nothing serves it.
 */
export type MirrorRepository =
  | { downstreamRepository: string; form: 'path' | 'ns'; upstreamRegistry: string }
  | { downstreamRepository?: undefined; reason: 'invalid-namespace' | 'no-rule'; upstreamRegistry?: string };

/**
 * The downstream repository serving `path` on the registry `ns` (host[:port], Docker Hub aliases
 * allowed: `docker.io` is `registry-1.docker.io`, a single-segment name gets `library/`).
 */
export function mirrorRepository(rules: CacheRuleSet, ns: string, path: string): MirrorRepository {
  if (registryHostIssues(ns).length > 0) return { reason: 'invalid-namespace' };
  const upstreamRegistry = normalizeRegistryHost(ns.replace(/\.$/, ''));
  const direct = rules.match(path);
  if (direct && direct.upstreamRegistry === upstreamRegistry) return { downstreamRepository: path, form: 'path', upstreamRegistry };
  const downstream = rules.toDownstream(upstreamRegistry, path);
  return downstream === undefined ? { reason: 'no-rule', upstreamRegistry } : { downstreamRepository: downstream, form: 'ns', upstreamRegistry };
}

/**
 * The downstream prefix a registry-wide rule (`<host>/*` -> `<prefix>/*`) serves its registry under:
 * what containerd's `override_path` form needs (`<cache>/v2/<prefix>`, the image's repository appended
 * as is). Undefined for a rule that covers only part of its registry (its paths do not line up).
 */
export function registryWidePrefix(rule: Pick<CacheRule, 'sourceRepository' | 'targetRepository'>): string | undefined {
  const { source } = parseSourceRepository(rule.sourceRepository);
  const { pattern } = parseTargetRepository(rule.targetRepository);
  if (!source || !pattern || !source.pattern.wildcard || source.pattern.path !== '' || !pattern.wildcard) return undefined;
  return pattern.path;
}
