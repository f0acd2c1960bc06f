import type { NextFunction, Request, Response } from 'express';
import { auditRequestFacts, type AuditActor, type AuditLog } from '../audit-log.js';
import { accessFor, type AccessDecision, type RoleEscalation } from './admin-access.js';
import type { AdminAuthenticator } from './admin-authenticator.js';
import { roleAtLeast, type AdminRole } from './admin-roles.js';
import { ProblemError, sendProblem } from './problem.js';

const REALM = 'Bearer realm="pullthrough-admin"';

export interface AdminAuthDeps {
  authenticator: AdminAuthenticator;
  audit: AuditLog;
}

/**
 * Authenticate, then authorize against a fixed decision (or, for /api/v1, the access table),
 * before any body is read. 401 (with WWW-Authenticate) for missing or bad credentials, 403 for a
 * role too weak, both audited; an authorized change is audited when its response ends.
 */
function guard({ authenticator, audit }: AdminAuthDeps, decide: (req: Request) => AccessDecision, mountPath: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const decision = decide(req);
    const base = { plane: 'admin' as const, route: `${mountPath}${decision.route}`, action: decision.action, ...(decision.target !== undefined ? { target: decision.target } : {}) };
    authenticator.authenticate(req.headers.authorization).then((auth) => {
      if (!auth.ok) {
        audit.denied({ ...base, ...auditRequestFacts(req, res), actor: { kind: 'anonymous' }, status: auth.status, reason: auth.reason });
        if (auth.status === 503) res.setHeader('Retry-After', '10');
        else res.setHeader('WWW-Authenticate', auth.reason === 'no-credentials' ? REALM : `${REALM}, error="invalid_token"`);
        return sendProblem(res, { status: auth.status, title: auth.status === 401 ? 'Unauthorized' : 'Service Unavailable', detail: auth.detail });
      }
      if (!auth.role || !roleAtLeast(auth.role, decision.role)) {
        audit.denied({ ...base, ...auditRequestFacts(req, res), actor: auth.actor, status: 403, reason: auth.role ? 'insufficient-role' : 'no-role' });
        res.setHeader('WWW-Authenticate', `${REALM}, error="insufficient_scope"`);
        const held = auth.role ? `role "${auth.role}"` : 'a token that maps to no role';
        return sendProblem(res, { status: 403, title: 'Forbidden', detail: `${held} may not ${req.method} ${base.route}: it needs "${decision.role}"` });
      }
      // For the body-dependent rule (requireEscalation): the caller's role, and its denial audited like the table's.
      const caller: AdminCaller = {
        role: auth.role,
        actor: auth.actor,
        deny: (escalation) => {
          caller.denied = true;
          audit.denied({ ...base, ...auditRequestFacts(req, res), actor: auth.actor, status: 403, reason: escalation.reason });
        },
      };
      res.locals.adminCaller = caller;
      if (decision.action !== 'read') {
        // One line per change, with its outcome; a client gone before the answer is 499 (client closed request).
        res.once('close', () => {
          if (!caller.denied) audit.change({ ...base, ...auditRequestFacts(req, res), actor: auth.actor, status: res.headersSent ? res.statusCode : 499 });
        });
      }
      next();
    }, next);
  };
}

/** The authenticated admin caller, in `res.locals.adminCaller` once the access table let the request in. */
interface AdminCaller {
  role: AdminRole;
  /** Who (for the record of what they asked for, e.g. a garbage collection job's `requestedBy`). */
  actor: AuditActor;
  /** Audit a refusal by the body-dependent rule (it replaces the request's change line). */
  deny(escalation: RoleEscalation): void;
  denied?: boolean;
}

/** Who the authenticated admin caller is (undefined before adminAuth let the request in). */
export function adminActor(res: Response): AuditActor | undefined {
  return (res.locals.adminCaller as AdminCaller | undefined)?.actor;
}

/**
 * The body-dependent part of the access table (admin-access.ts): refuse with 403 problem JSON, audited
 * as denied with the escalation's reason, unless the caller holds the role the change needs.
 */
export function requireEscalation(res: Response, escalation: RoleEscalation | undefined): void {
  if (escalation === undefined) return;
  const caller = res.locals.adminCaller as AdminCaller | undefined;
  if (caller && roleAtLeast(caller.role, escalation.role)) return;
  caller?.deny(escalation);
  res.setHeader('WWW-Authenticate', `${REALM}, error="insufficient_scope"`);
  throw new ProblemError(403, 'Forbidden', `role "${caller?.role ?? 'none'}" may not make this change: ${escalation.detail} needs "${escalation.role}"`);
}

/** /api/v1: every request authenticated, authorized by the access table (admin-access.ts). */
export function adminAuth(deps: AdminAuthDeps) {
  return guard(deps, (req) => accessFor(req.method, req.path), '/api/v1');
}

/** `GET /metrics` behind the admin credentials (PULLTHROUGH_METRICS_AUTH): any role. */
export function metricsAuth(deps: AdminAuthDeps) {
  return guard(deps, () => ({ role: 'reader', action: 'read', route: '' }), '/metrics');
}
