import type { CacheRule, CacheRuleSet } from '@pullthrough/cache-rules';
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
export type RuleRef = Pick<CacheRule, 'name' | 'credentialSetName' | 'platforms' | 'tagFreshnessSeconds' | 'upstreamTagNotFound'>;

/** Upstream coordinates as a hydration job carries them. */
export interface UpstreamCoordinates {
  ruleName: string;
  credentialSetName?: string | undefined;
  downstreamRepository: string;
  upstreamRegistry: string;
  upstreamRepository: string;
}

/** Where a downstream repository's content comes from, resolved from the cache rules. */
export interface UpstreamTarget {
  rule: RuleRef;
  downstreamRepository: string;
  upstreamRegistry: string;
  upstreamRepository: string;
  client: UpstreamClient;
}

export class UpstreamResolver {
  constructor(
    private readonly rules: () => CacheRuleSet,
    private readonly pool: UpstreamClientPool,
    private readonly credentials?: CredentialProvider,
  ) {}

  resolve(downstreamRepository: string): UpstreamTarget | undefined {
    const match = this.rules().match(downstreamRepository);
    if (!match) return undefined;
    return {
      rule: match.rule,
      downstreamRepository,
      upstreamRegistry: match.upstreamRegistry,
      upstreamRepository: match.upstreamRepository,
      client: this.client(match.upstreamRegistry, match.rule.credentialSetName),
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
    if (match.upstreamRegistry !== coords.upstreamRegistry || match.upstreamRepository !== coords.upstreamRepository) {
      refuse(`cache rule "${coords.ruleName}" now maps ${coords.downstreamRepository} to ${match.upstreamRegistry}/${match.upstreamRepository}, not ${coords.upstreamRegistry}/${coords.upstreamRepository}`);
    }
    if ((match.rule.credentialSetName ?? undefined) !== (coords.credentialSetName ?? undefined)) {
      refuse(`cache rule "${coords.ruleName}" now uses ${match.rule.credentialSetName ? `credential set "${match.rule.credentialSetName}"` : 'no credential set'}, not ${coords.credentialSetName ? `"${coords.credentialSetName}"` : 'none'}`);
    }
    return {
      rule: { ...match.rule, ...(platforms ? { platforms } : {}) },
      downstreamRepository: coords.downstreamRepository,
      upstreamRegistry: match.upstreamRegistry,
      upstreamRepository: match.upstreamRepository,
      client: this.client(match.upstreamRegistry, match.rule.credentialSetName),
    };
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

/** Context every cache error carries, so a client's error names the rule and the upstream. */
export function targetContext(target: UpstreamTarget): Record<string, unknown> {
  return { rule: target.rule.name, upstream: `${target.upstreamRegistry}/${target.upstreamRepository}` };
}
