import { createHash, timingSafeEqual } from 'node:crypto';
import { claimValues, JwksUnavailableError, OidcTokenError, type OidcVerifier } from '@pullthrough/oidc';
import type { AuditActor } from '../audit-log.js';
import { strongestRole, type AdminRole } from './admin-roles.js';

/** OIDC bearer tokens for the admin API: the verifier, and how their role claim maps to our roles. */
export interface OidcAdminAccess {
  verifier: OidcVerifier;
  /** Claim holding the caller's roles (Entra app roles: `roles`). */
  roleClaim: string;
  /** Claim value -> role; the strongest mapped role wins. */
  roleMap: ReadonlyMap<string, AdminRole>;
}

/** An authenticated caller (the role may still be too weak for the route). */
export interface AdminPrincipal {
  ok: true;
  role: AdminRole | undefined;
  actor: AuditActor;
}

/** A caller who is not authenticated: 401 (no or bad credentials) or 503 (the issuer's keys are unreachable). */
export interface AdminRefusal {
  ok: false;
  status: 401 | 503;
  /** Stable code for the audit log: `no-credentials`, `bad-token`, or the OIDC rejection (`expired`, `wrong-audience`...). */
  reason: string;
  detail: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** Who is calling the admin API: the static admin token (role `admin`) or an OIDC bearer token (role from its claims). */
export class AdminAuthenticator {
  private readonly expected: Buffer;

  constructor(
    adminToken: string,
    private readonly oidc?: OidcAdminAccess,
    /** Told why the issuer's keys are unavailable (for the operator's log; the client gets a generic 503). */
    private readonly onIssuerUnavailable: (message: string) => void = () => undefined,
  ) {
    this.expected = digest(adminToken);
  }

  async authenticate(authorization: string | undefined): Promise<AdminPrincipal | AdminRefusal> {
    const m = /^Bearer\s+(.+)$/i.exec(authorization ?? '');
    const token = m?.[1]!.trim();
    if (!token) return { ok: false, status: 401, reason: 'no-credentials', detail: 'a bearer token is required (the admin token or an OIDC access token)' };
    // Constant-time against the static token, whatever the token looks like.
    if (timingSafeEqual(digest(token), this.expected)) return { ok: true, role: 'admin', actor: { kind: 'admin-token', subject: 'admin-token', role: 'admin' } };
    if (!this.oidc || !JWT_SHAPE.test(token)) return { ok: false, status: 401, reason: 'bad-token', detail: 'the bearer token is not valid' };
    try {
      const claims = await this.oidc.verifier.verify(token);
      const role = strongestRole(claimValues(claims, this.oidc.roleClaim).flatMap((v) => this.oidc!.roleMap.get(v) ?? []));
      const actor: AuditActor = {
        kind: 'oidc',
        subject: text(claims.sub),
        oid: text(claims.oid),
        name: text(claims.preferred_username) ?? text(claims.name) ?? text(claims.upn),
        ...(role ? { role } : {}),
      };
      return { ok: true, role, actor };
    } catch (err) {
      if (err instanceof OidcTokenError) return { ok: false, status: 401, reason: err.reason, detail: err.message };
      if (err instanceof JwksUnavailableError) {
        this.onIssuerUnavailable(err.message);
        return { ok: false, status: 503, reason: 'jwks-unavailable', detail: "the identity provider's signing keys are unavailable; try again" };
      }
      throw err;
    }
  }
}
