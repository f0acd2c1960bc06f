import { Authorizer, FailedLoginLimiter, HtpasswdFile, KeyRing, PasswordLogin, TokenService } from '@pullthrough/auth';
import { ruleAnonymousPull } from '@pullthrough/cache-rules';
import type { Logger } from '@pullthrough/pull-through';
import type { RegistryStore } from '@pullthrough/storage';
import type { AccessPolicyRegistry } from '../access/access-policy-registry.js';
import { controlSigningKeyStore } from '../access/signing-key-store.js';
import { AuditLog } from '../audit-log.js';
import type { FrontendConfig } from '../config.js';
import type { RuleRegistry } from '../rules/rule-registry.js';
import { ClientAuth } from './client-auth.js';

/**
 * The data plane's client authentication, wired from config: htpasswd users (with the failed-login
 * limiter), our ES256 registry tokens from the key ring shared in storage (refreshed every 10
 * minutes: `keyTimer`, cleared on close), the authorizer over the access policy and the rules'
 * anonymous pull, and the audit log every denial goes to.
 */
export async function clientAuthFrom(config: FrontendConfig, store: RegistryStore, rules: RuleRegistry, accessPolicies: AccessPolicyRegistry, logger: Logger) {
  const users = config.PULLTHROUGH_HTPASSWD_FILE
    ? new HtpasswdFile(config.PULLTHROUGH_HTPASSWD_FILE, { maxConcurrentChecks: config.PULLTHROUGH_LOGIN_MAX_CONCURRENT_CHECKS, maxQueuedChecks: config.PULLTHROUGH_LOGIN_MAX_QUEUED_CHECKS })
    : undefined;
  await users?.load();
  // Failed password logins per client address, in this process's memory (README "Limits").
  const loginLimiter =
    config.PULLTHROUGH_LOGIN_FAILURES_PER_MINUTE > 0
      ? new FailedLoginLimiter({ burst: config.PULLTHROUGH_LOGIN_FAILURE_BURST, perMinute: config.PULLTHROUGH_LOGIN_FAILURES_PER_MINUTE, maxClients: config.PULLTHROUGH_LOGIN_MAX_TRACKED_CLIENTS })
      : undefined;
  const keyRing = new KeyRing(controlSigningKeyStore(store), {
    rotationMs: config.PULLTHROUGH_TOKEN_KEY_ROTATION_HOURS * 3600_000,
    maxTokenLifetimeMs: Math.max(config.PULLTHROUGH_TOKEN_TTL_SECONDS, config.PULLTHROUGH_REFRESH_TOKEN_TTL_SECONDS) * 1000,
  });
  await keyRing.refresh();
  const keyTimer = setInterval(() => keyRing.refresh().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'token key refresh failed')), 600_000);
  keyTimer.unref();
  const tokens = new TokenService(keyRing, {
    service: config.PULLTHROUGH_AUTH_SERVICE,
    issuer: config.PULLTHROUGH_AUTH_SERVICE,
    accessTtlSeconds: config.PULLTHROUGH_TOKEN_TTL_SECONDS,
    refreshTtlSeconds: config.PULLTHROUGH_REFRESH_TOKEN_TTL_SECONDS,
  });
  const authorizer = new Authorizer({
    policy: () => accessPolicies.policy,
    anonymousPull: (repository) => {
      if (!config.PULLTHROUGH_ANONYMOUS_PULL) return false;
      // A repository no rule maps is never anonymous: it holds what a deleted rule left, or (later) pushed content.
      const match = rules.rules.match(repository);
      return match !== undefined && ruleAnonymousPull(match.rule);
    },
  });
  const audit = new AuditLog(logger);
  const clientAuth = new ClientAuth({
    tokens,
    logins: users ? new PasswordLogin(users, loginLimiter) : undefined,
    authorizer,
    realm: config.PULLTHROUGH_AUTH_REALM,
    challengeAnonymous: users !== undefined || !config.PULLTHROUGH_ANONYMOUS_PULL,
    audit,
  });
  return { clientAuth, tokens, authorizer, audit, keyTimer, hasUsers: users !== undefined };
}
