import { allowRefusal, ruleFallbackRegistries, upstreamRepositoryFor, type CacheRule, type CacheRuleSet, type RuleMatch } from '@pullthrough/cache-rules';
import { JobRuleMismatchError } from '@pullthrough/oci';
import type { UpstreamClient, UpstreamClientPool } from '@pullthrough/upstream';
import { boundCredentials } from './bound-credentials.js';

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

export class UpstreamResolver {
  constructor(
    private readonly rules: () => CacheRuleSet,
    private readonly pool: UpstreamClientPool,
    private readonly credentials?: CredentialProvider,
  ) {}

  resolve(downstreamRepository: string): UpstreamTarget | undefined {
    const match = this.rules().match(downstreamRepository);
    return match ? this.target(match, downstreamRepository) : undefined;
  }

  /**
   * The rule's source registry with its credential set, then each fallback registry. The upstream
   * repository path is the source's (Docker Hub's `library/` rule applied for a Hub fallback). A
   * fallback is reached anonymously: a credential set is bound to its loginServer, which is the
   * source registry (rules are checked on save), and a fallback never is (it must differ from the source).
   */
  private target(match: RuleMatch, downstreamRepository: string, rule: RuleRef = match.rule): UpstreamTarget {
    const client = this.client(match.upstreamRegistry, match.rule.credentialSetName);
    const fallbacks = ruleFallbackRegistries(match.rule).map((registry) => ({
      registry,
      repository: upstreamRepositoryFor(registry, match.upstreamRepository),
      client: this.client(registry, undefined),
    }));
    return {
      rule,
      downstreamRepository,
      upstreamRegistry: match.upstreamRegistry,
      upstreamRepository: match.upstreamRepository,
      client,
      upstreams: [{ registry: match.upstreamRegistry, repository: match.upstreamRepository, client }, ...fallbacks],
    };
  }

  /**
   * A target for a hydration job, from the CURRENT rules: the job's rule must still exist and still
   * give the job's downstream repository the job's upstream registry, repository and credential set.
   * The credential set used is the rule's, never one the job names. Throws JobRuleMismatchError.
   * `rules`: the set to check against (the hydrator passes one freshly read from storage).
   */
  forJob(coords: UpstreamCoordinates, platforms?: RuleRef['platforms'], rules: CacheRuleSet = this.rules()): UpstreamTarget {
    const refuse = (why: string) => {
      throw new JobRuleMismatchError(`hydration job refused: ${why}`, { detail: { rule: coords.ruleName, repository: coords.downstreamRepository } });
    };
    if (!rules.get(coords.ruleName)) refuse(`cache rule "${coords.ruleName}" no longer exists`);
    const match = rules.match(coords.downstreamRepository);
    if (!match) return refuse(`no cache rule maps ${coords.downstreamRepository} now`);
    if (match.rule.name !== coords.ruleName) refuse(`${coords.downstreamRepository} is now mapped by cache rule "${match.rule.name}", not "${coords.ruleName}"`);
    // The job names the registry that served the pull: the rule's source or one of its fallbacks.
    const target = this.target(match, coords.downstreamRepository, { ...match.rule, ...(platforms ? { platforms } : {}) });
    if (!target.upstreams.some((u) => u.registry === coords.upstreamRegistry && u.repository === coords.upstreamRepository)) {
      const now = target.upstreams.map((u) => `${u.registry}/${u.repository}`).join(' or ');
      refuse(`cache rule "${coords.ruleName}" now maps ${coords.downstreamRepository} to ${now}, not ${coords.upstreamRegistry}/${coords.upstreamRepository}`);
    }
    const refusal = allowRefusal(match.rule, match.upstreamRepository, coords.tag ?? undefined);
    if (refusal) refuse(refusal.message);
    if ((match.rule.credentialSetName ?? undefined) !== (coords.credentialSetName ?? undefined)) {
      refuse(`cache rule "${coords.ruleName}" now uses ${match.rule.credentialSetName ? `credential set "${match.rule.credentialSetName}"` : 'no credential set'}, not ${coords.credentialSetName ? `"${coords.credentialSetName}"` : 'none'}`);
    }
    return target;
  }

  private client(registry: string, setName: string | undefined): UpstreamClient {
    const bound = setName && this.credentials ? boundCredentials(this.credentials, setName, registry) : undefined;
    return this.pool.get(registry, {
      insecure: this.pool.isInsecure(registry),
      ...(setName && bound
        ? {
            credentialsKey: setName,
            credentials: bound.credentials,
            onCredentialsRejected: () => this.credentials?.forget?.(setName),
            ...(bound.identityToken ? { identityToken: bound.identityToken } : {}),
          }
        : {}),
    });
  }
}

/** Context every cache error carries, so a client's error names the rule and the upstream (the one that answered or failed). */
export function targetContext(target: Pick<UpstreamTarget, 'rule' | 'upstreamRegistry' | 'upstreamRepository'>): Record<string, unknown> {
  return { rule: target.rule.name, upstream: `${target.upstreamRegistry}/${target.upstreamRepository}` };
}
