import { normalizeRegistryHost, ruleRegistry, type CacheRule, type CacheRuleSet } from '@pullthrough/cache-rules';
import { checkUpstreamLogin, type LoginCheckResult, type UpstreamClientPool } from '@pullthrough/upstream';
import { boundCredentials } from './bound-credentials.js';
import type { CredentialProvider } from './upstream-target.js';

/** host[:port] (a domain or a bracketed IPv6 address, optional port): nothing that could add a path, user or query to a URL. */
const LOGIN_SERVER = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[A-Fa-f0-9:]+\])(?::[0-9]{1,5})?$/;

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

  /**
   * A credential set against its login server, and only it: the caller passes the stored set's
   * `loginServer` (nothing from the request). A login server that is not a plain host[:port] (a set
   * stored before it was validated) is not contacted.
   */
  verifyCredentialSet(name: string, loginServer: string): Promise<VerifyResult> {
    if (!LOGIN_SERVER.test(loginServer)) {
      return Promise.resolve({
        upstream: loginServer.slice(0, 100),
        credentialSetName: name,
        status: 'failed',
        failedStep: 'upstream-reachable',
        steps: [{ step: 'upstream-reachable', status: 'failed', message: 'the loginServer is not a registry host[:port]: nothing was contacted', category: 'rule-config' }],
      });
    }
    return this.check(normalizeRegistryHost(loginServer), name, undefined);
  }

  /** A rule: its upstream, its credential set (if any), and a pull scope when its source is one repository. */
  verifyRule(rule: CacheRule, rules: CacheRuleSet): Promise<VerifyResult> {
    const registry = ruleRegistry(rule) ?? normalizeRegistryHost(rule.sourceRepository.split('/')[0]!);
    const match = rule.targetRepository.endsWith('/*') ? undefined : rules.match(rule.targetRepository);
    const scope = match && match.rule.name === rule.name ? `repository:${match.upstreamRepository}:pull` : undefined;
    return this.check(registry, rule.credentialSetName, scope);
  }

  private async check(registry: string, setName: string | undefined, scope: string | undefined): Promise<VerifyResult> {
    let credentials;
    let identityToken;
    if (setName !== undefined && this.credentials) {
      this.credentials.forget?.(setName);
      // Bound to the set's loginServer: a rule whose upstream is another registry gets no secrets.
      ({ credentials, identityToken } = boundCredentials(this.credentials, setName, registry));
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
