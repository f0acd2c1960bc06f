import type { CacheRule, CacheRuleSet } from '@pullthrough/cache-rules';
import type { UpstreamClient, UpstreamClientPool } from '@pullthrough/upstream';
import { LruCache } from '@pullthrough/oci';
import { UpstreamClients } from './upstream-clients.js';

export type UpstreamCredentials = { username: string; password: string; realmHosts?: readonly string[] };

/** Turns a rule's credential set name into a lazy secret lookup. Secrets are read only when an upstream asks. */
export interface CredentialProvider {
  credentialsFor(credentialSetName: string, upstreamRegistry: string): () => Promise<UpstreamCredentials | undefined>;
  /** Drop cached secrets of a set (the upstream refused them: they may have been rotated). */
  forget?(credentialSetName: string): void;
  /** An Entra ID token for ACR upstreams the set reaches with a managed identity (undefined otherwise). */
  identityTokenFor?(credentialSetName: string, upstreamRegistry: string): () => Promise<string | undefined>;
  /** The set's `loginServer`, read fresh (undefined: no such set). Secrets go only to that registry. */
  loginServerOf(credentialSetName: string): Promise<string | undefined>;
}


/** The parts of a rule the pull path needs (a hydration job carries these by name). */
export type RuleRef = Pick<CacheRule, 'name' | 'credentialSetName' | 'platforms' | 'tagFreshnessSeconds' | 'upstreamTagNotFound' | 'allow' | 'fallbackRegistries'>;

/** Upstream coordinates as a hydration job carries them. */
export interface UpstreamCoordinates {
  ruleName: string;
  credentialSetName?: string | undefined;
  downstreamRepository: string;
  upstreamRegistry: string;
  upstreamRepository: string;
  /** The tag the job was enqueued for (checked against the rule's allow-list). */
  tag?: string | undefined;
}

/** One registry a target can be served from: the rule's source registry or one of its fallbacks. */
export interface UpstreamEndpoint {
  registry: string;
  repository: string;
  client: UpstreamClient;
}

/** Reports which upstream of a rule answered, and which was skipped as unavailable (rule health, metrics). */
export interface UpstreamUseObserver {
  /** `registry` answered (any answer, 404 included); `fallback`: it is not the rule's source registry. */
  upstreamAnswered(rule: string, registry: string, fallback: boolean): void;
  /** `registry` was unavailable (`err`) and the next one (`next`) is tried. */
  upstreamSkipped(rule: string, registry: string, next: string, err: unknown): void;
}

/** Where a downstream repository's content comes from, resolved from the cache rules. */
export interface UpstreamTarget {
  rule: RuleRef;
  downstreamRepository: string;
  /** The rule's source (primary) registry; `upstreams[0]`. */
  upstreamRegistry: string;
  upstreamRepository: string;
  /** The source registry's client. */
  client: UpstreamClient;
  /** The source registry, then the rule's fallback registries, in the order they are tried. */
  upstreams: readonly UpstreamEndpoint[];
  /** Told which upstream served (set by the pull path; the hydrator leaves it unset). */
  observer?: UpstreamUseObserver;
}

/** Repository names whose target a resolver keeps for the current rule set. */
const TARGETS_KEPT = 4096;

/**
 * A downstream repository's upstream target from the cache rules as they are now (the pull path).
 * Targets are kept per rule set (a new set, after any rule change, starts afresh): a target is made
 * of the rule match and the pool's clients, which the pool makes once per registry and credential set
 * and then always gives back, so the same set gives the same target. Every data request asks.
 */
export class UpstreamResolver {
  private readonly clients: UpstreamClients;
  private kept: { rules: CacheRuleSet; targets: LruCache<Readonly<UpstreamTarget> | null> } | undefined;

  constructor(
    private readonly rules: () => CacheRuleSet,
    pool: UpstreamClientPool,
    credentials?: CredentialProvider,
  ) {
    this.clients = new UpstreamClients(pool, credentials);
  }

  resolve(downstreamRepository: string): Readonly<UpstreamTarget> | undefined {
    const rules = this.rules();
    if (this.kept?.rules !== rules) this.kept = { rules, targets: new LruCache(TARGETS_KEPT) };
    const { targets } = this.kept;
    const known = targets.get(downstreamRepository);
    if (known !== undefined) return known ?? undefined;
    const match = rules.match(downstreamRepository);
    const target = match ? freezeTarget(this.clients.targetFor(match, downstreamRepository)) : undefined;
    targets.set(downstreamRepository, target ?? null);
    return target;
  }
}

/** Shared by every request for the repository: nobody may change it (a changed copy is made with a spread). */
function freezeTarget(target: UpstreamTarget): Readonly<UpstreamTarget> {
  for (const endpoint of target.upstreams) Object.freeze(endpoint);
  Object.freeze(target.upstreams);
  return Object.freeze(target);
}

/** Context every cache error carries, so a client's error names the rule and the upstream (the one that answered or failed). */
export function targetContext(target: Pick<UpstreamTarget, 'rule' | 'upstreamRegistry' | 'upstreamRepository'>): Record<string, unknown> {
  return { rule: target.rule.name, upstream: `${target.upstreamRegistry}/${target.upstreamRepository}` };
}
