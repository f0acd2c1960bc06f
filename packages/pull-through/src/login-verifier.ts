import { normalizeRegistryHost, type CacheRule, type CacheRuleSet } from '@pullthrough/cache-rules';
import { checkUpstreamLogin, type LoginCheckResult, type UpstreamClientPool } from '@pullthrough/upstream';
import type { CredentialProvider } from './upstream-target.js';

export interface LoginVerifierOptions {
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
}

export interface VerifyResult extends LoginCheckResult {
  upstream: string;
  credentialSetName?: string;
}

/**
 * Live checks behind `POST .../verify`: re-reads a credential set's secrets (dropping the cached
 * ones), then asks the upstream: reachable, and does it accept the credentials (for a rule: a
 * token for its pull scope).
 */
export class LoginVerifier {
  constructor(
    private readonly pool: UpstreamClientPool,
    private readonly credentials: CredentialProvider | undefined,
    private readonly options: LoginVerifierOptions = {},
  ) {}

  /** A credential set against its login server. */
  verifyCredentialSet(name: string, loginServer: string): Promise<VerifyResult> {
    return this.check(normalizeRegistryHost(loginServer), name, undefined);
  }

  /** A rule: its upstream, its credential set (if any), and a pull scope when its source is one repository. */
  verifyRule(rule: CacheRule, rules: CacheRuleSet): Promise<VerifyResult> {
    const registry = normalizeRegistryHost(rule.sourceRepository.split('/')[0]!);
    const match = rule.targetRepository.endsWith('/*') ? undefined : rules.match(rule.targetRepository);
    const scope = match && match.rule.name === rule.name ? `repository:${match.upstreamRepository}:pull` : undefined;
    return this.check(registry, rule.credentialSetName, scope);
  }

  private async check(registry: string, setName: string | undefined, scope: string | undefined): Promise<VerifyResult> {
    let credentials;
    let identityToken;
    if (setName !== undefined && this.credentials) {
      this.credentials.forget?.(setName);
      credentials = this.credentials.credentialsFor(setName, registry);
      identityToken = this.credentials.identityTokenFor?.(setName, registry);
    }
    const result = await checkUpstreamLogin({
      registry,
      insecure: this.pool.isInsecure(registry),
      ...(credentials ? { credentials } : {}),
      ...(identityToken ? { identityToken } : {}),
      ...(scope ? { scope } : {}),
      egress: this.pool.egress,
      connectTimeoutMs: this.options.connectTimeoutMs,
      idleTimeoutMs: this.options.idleTimeoutMs,
    });
    return { upstream: registry, ...(setName ? { credentialSetName: setName } : {}), ...result };
  }
}
