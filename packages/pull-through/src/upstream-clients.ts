import { ruleFallbackRegistries, upstreamRepositoryFor, type RuleMatch } from '@pullthrough/cache-rules';
import type { UpstreamClient, UpstreamClientPool } from '@pullthrough/upstream';
import { boundCredentials } from './bound-credentials.js';
import type { CredentialProvider, RuleRef, UpstreamTarget } from './upstream-target.js';

/**
 * Upstream clients for a rule's registries: the pool's client for a registry, given the rule's
 * credential set (bound to that set's loginServer) or none. Needs no rule set: the pull path
 * (UpstreamResolver) and the hydrator (upstreamTargetForJob) both build targets from rule matches with it.
 */
export class UpstreamClients {
  constructor(
    private readonly pool: UpstreamClientPool,
    private readonly credentials?: CredentialProvider,
  ) {}

  /**
   * The target of a rule match: the rule's source registry with its credential set, then each
   * fallback registry. The upstream repository path is the source's (Docker Hub's `library/` rule
   * applied for a Hub fallback). A fallback is reached anonymously: a credential set is bound to its
   * loginServer, which is the source registry (rules are checked on save), and a fallback never is
   * (it must differ from the source).
   */
  targetFor(match: RuleMatch, downstreamRepository: string, rule: RuleRef = match.rule): UpstreamTarget {
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

  client(registry: string, setName: string | undefined): UpstreamClient {
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
