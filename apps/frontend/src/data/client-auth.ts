import type { Request, Response } from 'express';
import { ClientThrottledError, DeniedError, UnauthorizedError } from '@pullthrough/oci';
import {
  ANONYMOUS,
  formatScope,
  JwtInvalidError,
  type Authorizer,
  type PasswordLogin,
  type PasswordLoginOutcome,
  type Principal,
  type RepositoryAction,
  type TokenService,
} from '@pullthrough/auth';
import { auditRequestFacts, type AuditActor, type AuditLog } from '../audit-log.js';

export interface ClientAuthOptions {
  tokens: TokenService;
  /** Password logins against the htpasswd users (limited per client address); without users only anonymous clients (and their tokens) exist. */
  logins: PasswordLogin | undefined;
  authorizer: Authorizer;
  /** Our token endpoint as clients reach it; undefined: `<scheme>://<Host>/token` of each request. */
  realm: string | undefined;
  /** Does an anonymous `GET /v2/` get a challenge (there are users to log in as, or anonymous pull is off)? */
  challengeAnonymous: boolean;
  /** Every refused request goes to the audit log (who, what, where from; never a credential). */
  audit: AuditLog;
}

/** Stable reasons in the audit log. */
type DenialReason = 'bad-credentials' | 'invalid-token' | 'unsupported-scheme' | 'no-credentials' | 'insufficient-scope' | 'not-permitted' | 'login-throttled';

/** What a refusal was about: the route pattern and, for repository routes, the repository and action. */
export interface AccessTarget {
  route: string;
  repository?: string;
  action?: RepositoryAction;
}

/** What a throttled client is told (no user name: the limit is per address, whoever it tried). */
export const LOGIN_THROTTLED: Record<Extract<PasswordLoginOutcome, { kind: 'throttled' }>['reason'], string> = {
  'too-many-failures': 'too many failed logins from this address; retry later',
  'checks-busy': 'too many logins being checked at once; retry shortly',
};

/**
 * Failed logins are limited per client address: the address express reports (X-Forwarded-For
 * only as far as PULLTHROUGH_TRUST_PROXY_HOPS trusts it), an IPv4-mapped address as its IPv4 form.
 */
function loginClient(req: Request): string {
  const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
  return `address:${address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address}`;
}

const HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/**
 * Who a data-port request is and whether it may do what it asks: Basic credentials against
 * htpasswd, our bearer tokens, or anonymous. Refusals carry the distribution challenge clients
 * follow to our token endpoint (`WWW-Authenticate: Bearer realm,service[,scope][,error]`).
 */
export class ClientAuth {
  constructor(private readonly options: ClientAuthOptions) {}

  get service(): string {
    return this.options.tokens.service;
  }

  realmFor(req: Request): string {
    if (this.options.realm) return this.options.realm;
    const host = req.headers.host;
    const authority = host && HOST.test(host) ? host : `${req.socket.localAddress}:${req.socket.localPort}`;
    return `${req.protocol}://${authority}/token`;
  }

  /** The request's principal (kept in `res.locals.principal`); bad credentials are a 401 at once. */
  async authenticate(req: Request, res: Response, target: AccessTarget): Promise<Principal> {
    const principal = await this.principalOf(req, res, target);
    res.locals.principal = principal;
    return principal;
  }

  private async principalOf(req: Request, res: Response, target: AccessTarget): Promise<Principal> {
    const header = req.headers.authorization;
    if (!header) return ANONYMOUS;
    const space = header.indexOf(' ');
    const scheme = header.slice(0, space < 0 ? undefined : space).toLowerCase();
    const value = space < 0 ? '' : header.slice(space + 1).trim();
    if (scheme === 'basic') {
      const outcome = await this.basicLogin(req, res, value, target);
      if (outcome.kind === 'accepted') return { kind: 'user', subject: outcome.user };
      if (outcome.kind === 'throttled') {
        throw new ClientThrottledError(LOGIN_THROTTLED[outcome.reason], { retryAfterSeconds: outcome.retryAfterSeconds, detail: { retryAfterSeconds: outcome.retryAfterSeconds } });
      }
      throw this.unauthorized(req, res, ANONYMOUS, 'invalid username or password', 'bad-credentials', target);
    }
    if (scheme === 'bearer') {
      try {
        const token = await this.options.tokens.verifyAccess(value);
        return { kind: 'token', subject: token.subject, anonymous: token.anonymous, access: token.access };
      } catch (err) {
        if (!(err instanceof JwtInvalidError)) throw err;
        throw this.unauthorized(req, res, ANONYMOUS, `bearer token refused: ${err.reason}`, 'invalid-token', target, { error: 'invalid_token' });
      }
    }
    throw this.unauthorized(req, res, ANONYMOUS, 'unsupported authorization scheme', 'unsupported-scheme', target);
  }

  /** Check Basic credentials (base64 `user:password`); a throttled login is audited here, a refused one by the caller. */
  async basicLogin(req: Request, res: Response, encoded: string, target: AccessTarget): Promise<PasswordLoginOutcome> {
    const decoded = encoded.length > 1024 ? '' : Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    // Malformed credentials count as a failed login like any wrong password.
    return this.passwordLogin(req, res, colon < 1 ? '' : decoded.slice(0, colon), colon < 1 ? '' : decoded.slice(colon + 1), target);
  }

  /** Check a user name and password (Basic, or the token endpoint's password grant), within the client's failed-login limit. */
  async passwordLogin(req: Request, res: Response, user: string, password: string, target: AccessTarget): Promise<PasswordLoginOutcome> {
    if (!this.options.logins) return { kind: 'refused' };
    const outcome = await this.options.logins.check(loginClient(req), user, password);
    if (outcome.kind === 'throttled') this.denied(req, res, ANONYMOUS, 429, 'login-throttled', target);
    return outcome;
  }

  /** Is `user` still in the htpasswd file (a refresh token's subject)? */
  userExists(user: string): boolean {
    return this.options.logins?.users.has(user) ?? false;
  }

  /** `GET /v2/`: anonymous clients learn where to get a token when they will need one. */
  requireLogin(req: Request, res: Response, principal: Principal, target: AccessTarget): void {
    if (principal.kind === 'anonymous' && this.options.challengeAnonymous) {
      throw this.unauthorized(req, res, principal, 'authentication required', 'no-credentials', target);
    }
  }

  /** Refuse unless `principal` may take `action` on `repository`: 401 with a challenge, 403 for a user who may not. */
  require(req: Request, res: Response, principal: Principal, target: Required<AccessTarget>): void {
    const { repository, action } = target;
    if (this.options.authorizer.allows(principal, repository, action)) return;
    const scope = formatScope(repository, [action]);
    if (principal.kind === 'user') {
      this.denied(req, res, principal, 403, 'not-permitted', target);
      throw new DeniedError(`requested access to the resource is denied`, { detail: { repository, action } });
    }
    if (principal.kind === 'token') {
      throw this.unauthorized(req, res, principal, `the token does not grant ${action} on ${repository}`, 'insufficient-scope', target, { scope, error: 'insufficient_scope' });
    }
    throw this.unauthorized(req, res, principal, `authentication required to ${action} ${repository}`, 'no-credentials', target, { scope });
  }

  /**
   * A cross-repository mount (`?mount=&from=`) by a token that lacks `pull` on `from` while its
   * subject may pull it now: 401 `insufficient_scope` naming both scopes, so the client fetches a
   * token that covers the mount's source too (as docker does when it plans a mount; distribution
   * asks for the same pair). A subject that may not pull `from` is not told anything: the mount
   * falls back to an upload (202), as for a user.
   */
  requireMountSource(req: Request, res: Response, principal: Principal, target: Required<AccessTarget>, from: string): void {
    if (principal.kind !== 'token' || principal.anonymous) return;
    if (this.options.authorizer.allows(principal, from, 'pull')) return;
    if (!this.options.authorizer.permitted(principal.subject, from).has('pull')) return;
    const scope = `${formatScope(target.repository, ['pull', 'push'])} ${formatScope(from, ['pull'])}`;
    throw this.unauthorized(req, res, principal, `the token does not grant pull on ${from}, the mount's source`, 'insufficient-scope', target, { scope, error: 'insufficient_scope' });
  }

  /** May `principal` take `action` on `repository` (no refusal, no audit: for checks beside the request's own, like a mount's source)? */
  allows(principal: Principal, repository: string, action: RepositoryAction): boolean {
    return this.options.authorizer.allows(principal, repository, action);
  }

  /** May `principal` see `repository` in `_catalog` (may it pull it, whatever its token's scopes)? */
  canList(principal: Principal, repository: string): boolean {
    const subject = principal.kind === 'user' || (principal.kind === 'token' && !principal.anonymous) ? principal.subject : undefined;
    return this.options.authorizer.permitted(subject, repository).has('pull');
  }

  private unauthorized(
    req: Request,
    res: Response,
    principal: Principal,
    message: string,
    reason: DenialReason,
    target: AccessTarget,
    extra: Record<string, string> = {},
  ): UnauthorizedError {
    const params = { realm: this.realmFor(req), service: this.service, ...extra };
    res.setHeader('WWW-Authenticate', `Bearer ${Object.entries(params).map(([k, v]) => `${k}="${v.replace(/["\\]/g, '')}"`).join(',')}`);
    this.denied(req, res, principal, 401, reason, target);
    const { repository, action } = target;
    return new UnauthorizedError(message, repository ? { detail: { repository, ...(action ? { action } : {}) } } : {});
  }

  /** The token endpoint refused a login (wrong password, a refresh token that no longer works). */
  refusedAtTokenEndpoint(req: Request, res: Response, reason: 'bad-credentials' | 'invalid-token'): void {
    this.denied(req, res, ANONYMOUS, 401, reason, { route: '/token' });
  }

  private denied(req: Request, res: Response, principal: Principal, status: 401 | 403 | 429, reason: DenialReason, target: AccessTarget): void {
    const actor: AuditActor = principal.kind === 'anonymous' || (principal.kind === 'token' && principal.anonymous) ? { kind: 'anonymous' } : { kind: 'user', subject: principal.subject };
    this.options.audit.denied({
      plane: 'data',
      actor,
      ...auditRequestFacts(req, res),
      route: target.route,
      action: target.action ?? 'login',
      ...(target.repository ? { target: target.repository } : {}),
      status,
      reason,
    });
  }
}
