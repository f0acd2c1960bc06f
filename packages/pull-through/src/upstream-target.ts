import type { CacheRule, CacheRuleSet } from '@pullthrough/cache-rules';
import type { UpstreamClient, UpstreamClientPool } from '@pullthrough/upstream';

export type UpstreamCredentials = { username: string; password: string; realmHosts?: readonly string[] };

/** Turns a rule's credential set name into a lazy secret lookup. Secrets are read only when an upstream asks. */
export interface CredentialProvider {
  credentialsFor(credentialSetName: string, upstreamRegistry: string): () => Promise<UpstreamCredentials | undefined>;
  /** Drop cached secrets of a set (the upstream refused them: they may have been rotated). */
  forget?(credentialSetName: string): void;
  /** An Entra ID token for ACR upstreams the set reaches with a managed identity (undefined otherwise). */
  identityTokenFor?(credentialSetName: string, upstreamRegistry: string): () => Promise<string | undefined>;
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

  /** A target from a job's recorded coordinates (the rule may have changed since; the job is what was pulled). */
  forCoordinates(coords: UpstreamCoordinates, platforms?: RuleRef['platforms']): UpstreamTarget {
    return {
      rule: {
        name: coords.ruleName,
        ...(coords.credentialSetName ? { credentialSetName: coords.credentialSetName } : {}),
        ...(platforms ? { platforms } : {}),
      },
      downstreamRepository: coords.downstreamRepository,
      upstreamRegistry: coords.upstreamRegistry,
      upstreamRepository: coords.upstreamRepository,
      client: this.client(coords.upstreamRegistry, coords.credentialSetName),
    };
  }

  private client(registry: string, setName: string | undefined): UpstreamClient {
    return this.pool.get(registry, {
      insecure: this.pool.isInsecure(registry),
      ...(setName && this.credentials
        ? {
            credentialsKey: setName,
            credentials: this.credentials.credentialsFor(setName, registry),
            onCredentialsRejected: () => this.credentials?.forget?.(setName),
            ...(this.credentials.identityTokenFor ? { identityToken: this.credentials.identityTokenFor(setName, registry) } : {}),
          }
        : {}),
    });
  }
}

/** Context every cache error carries, so a client's error names the rule and the upstream. */
export function targetContext(target: UpstreamTarget): Record<string, unknown> {
  return { rule: target.rule.name, upstream: `${target.upstreamRegistry}/${target.upstreamRepository}` };
}
