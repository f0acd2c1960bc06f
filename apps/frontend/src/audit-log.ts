import type { Request, Response } from 'express';
import type { Logger } from '@pullthrough/pull-through';

/**
 * Who did it. Never a credential: `admin-token` for the static admin token; an OIDC caller's
 * `sub` (and Entra's `oid`, display `name`); a data-plane user's name; or `anonymous`.
 */
export interface AuditActor {
  kind: 'admin-token' | 'oidc' | 'user' | 'anonymous';
  /** `admin-token`, the token's `sub`, or the user name. */
  subject?: string;
  /** Entra object id of the OIDC caller. */
  oid?: string;
  /** `preferred_username` or `name` of the OIDC caller. */
  name?: string;
  /** The role the caller was given (admin plane). */
  role?: string;
}

/** The facts of one audited request. */
export interface AuditEntry {
  /** Which listener: `admin` (/api/v1, /metrics) or `data` (/v2, /token). */
  plane: 'admin' | 'data';
  actor: AuditActor;
  method: string;
  /** The route pattern, not the raw path: `/api/v1/cache-rules/:name`, `/v2/:name/manifests/:reference`. */
  route: string;
  /** What was attempted: `cache-rule.put`, `webhook.ping`, `pull`... */
  action: string;
  /** The resource's name (rule, credential set, webhook, repository), when there is one. */
  target?: string;
  /** The client's address (`req.ip`: X-Forwarded-For only as far as PULLTHROUGH_TRUST_PROXY_HOPS trusts it). */
  address: string | undefined;
  /** The HTTP status answered. */
  status: number;
  requestId?: string;
}

/** A refusal: `reason` is a stable code (`no-credentials`, `expired`, `bad-signature`, `insufficient-role`...), never the credential. */
export interface AuditDenial extends AuditEntry {
  reason: string;
}

const clip = (s: string | undefined, n = 200) => (s === undefined ? undefined : s.length > n ? `${s.slice(0, n)}…` : s);

/** method, address and request id of an express request, for an AuditEntry. */
export function auditRequestFacts(req: Request, res: Response): Pick<AuditEntry, 'method' | 'address' | 'requestId'> {
  return { method: req.method, address: req.ip ?? req.socket.remoteAddress, requestId: res.locals.requestId as string | undefined };
}

/**
 * The audit log: one structured line per admin change and per denied request, through the app's
 * pino logger at `info`, marked `audit: true` with `event` `admin.change` or `access.denied`
 * (filter on those; keep PULLTHROUGH_LOG_LEVEL at `info` or lower). Lines carry who, what, target,
 * when (`at`, ISO 8601), from where and the outcome, and never a token, password, secret reference
 * or request body: callers pass only the fields below.
 *
 * The data plane reports its own refusals the same way:
 *   audit.denied({ plane: 'data', actor: { kind: 'anonymous' }, ...auditRequestFacts(req, res),
 *                  route: '/v2/:name/blobs/:digest', action: 'pull', target: repository, status: 401, reason: 'no-credentials' })
 */
export class AuditLog {
  constructor(private readonly logger: Logger) {}

  /** An admin change was attempted (it passed authorization); `status` says how it ended. */
  change(entry: AuditEntry): void {
    this.write('admin.change', entry, entry.status < 400 ? 'succeeded' : 'failed', 'admin change');
  }

  /** A request was refused for its credentials (401) or its permissions (403). */
  denied(entry: AuditDenial): void {
    this.write('access.denied', entry, 'denied', 'access denied');
  }

  private write(event: string, e: AuditEntry & { reason?: string }, outcome: string, msg: string): void {
    this.logger.info(
      {
        audit: true,
        event,
        at: new Date().toISOString(),
        plane: e.plane,
        actor: { ...e.actor, subject: clip(e.actor.subject), name: clip(e.actor.name) },
        method: e.method,
        route: clip(e.route, 300),
        action: e.action,
        ...(e.target !== undefined ? { target: clip(e.target) } : {}),
        address: e.address,
        status: e.status,
        outcome,
        ...(e.reason !== undefined ? { reason: e.reason } : {}),
        ...(e.requestId !== undefined ? { requestId: e.requestId } : {}),
      },
      msg,
    );
  }
}
