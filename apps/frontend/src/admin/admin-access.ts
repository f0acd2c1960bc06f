import type { CacheRule } from '@pullthrough/cache-rules';
import type { AdminRole } from './admin-roles.js';

/** One row of the access table: a route under /api/v1, the weakest role that may call it, and its audit action. */
export interface AccessRule {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'PATCH';
  /** Path under /api/v1; `:name` is one segment (the audited target), `*` any rest. */
  route: string;
  role: AdminRole;
  /** The audit log's `action`; reads are not audited. */
  action: string;
}

/**
 * Who may call what on the admin API, route by route: the one place this is decided (every router
 * mounted in app.ts is listed; admin-access.test.ts checks the table and app.ts agree).
 * A request that matches no row needs `admin` (so a route added without a row is closed, not open).
 * One exception depends on the body, so it is decided after the body is read:
 * `credentialRuleChangeNeedsAdmin` below (cache rules that carry a credential set).
 */
export const ADMIN_ACCESS: readonly AccessRule[] = [
  // Reads: every GET (no route returns a secret: credential sets hold references, webhook secrets are write-only).
  { method: 'GET', route: '/*', role: 'reader', action: 'read' },
  // Cache rules: operators run the cache. But who may pull content fetched with a credential set is an
  // admin's call: see credentialRuleChangeNeedsAdmin (a PUT or DELETE that changes it needs `admin`).
  { method: 'PUT', route: '/cache-rules/:name', role: 'operator', action: 'cache-rule.put' },
  { method: 'DELETE', route: '/cache-rules/:name', role: 'operator', action: 'cache-rule.delete' },
  { method: 'POST', route: '/cache-rules/:name/prefetch', role: 'operator', action: 'cache-rule.prefetch' },
  { method: 'POST', route: '/cache-rules/:name/verify', role: 'operator', action: 'cache-rule.verify' },
  // Credential sets: which secrets go where is an admin's call; a live check of an existing set is an operator's.
  { method: 'PUT', route: '/credential-sets/:name', role: 'admin', action: 'credential-set.put' },
  { method: 'DELETE', route: '/credential-sets/:name', role: 'admin', action: 'credential-set.delete' },
  { method: 'POST', route: '/credential-sets/:name/verify', role: 'operator', action: 'credential-set.verify' },
  // Webhooks: where events (and their signing secret) go is an admin's call; a ping is an operator's.
  { method: 'PUT', route: '/webhooks/:name', role: 'admin', action: 'webhook.put' },
  { method: 'DELETE', route: '/webhooks/:name', role: 'admin', action: 'webhook.delete' },
  { method: 'POST', route: '/webhooks/:name/ping', role: 'operator', action: 'webhook.ping' },
  // The access policy: who may pull, push and delete where is an admin's call.
  { method: 'PUT', route: '/access-policy', role: 'admin', action: 'access-policy.put' },
  { method: 'DELETE', route: '/access-policy', role: 'admin', action: 'access-policy.delete' },
  // Retention: an operator may see what a pass would evict (dryRun); evicting is an admin's call (retentionRunNeedsAdmin).
  { method: 'POST', route: '/retention', role: 'operator', action: 'retention.run' },
  // Garbage collection: an operator may ask what it would free (dryRun: true); deleting needs `admin`
  // (decided on the body: gc-routes.ts GC_DELETE_ESCALATION).
  { method: 'POST', route: '/gc', role: 'operator', action: 'gc.run' },
];

/** A route of the admin port outside /api/v1 that needs no token, and why that is safe. */
export interface PublicAdminRoute {
  method: 'GET';
  /** Path on the admin port; `*` any rest. */
  route: string;
  why: string;
}

/**
 * The admin port's routes outside /api/v1: none needs a token (admin-access.test.ts checks that app.ts
 * mounts nothing else there). `/metrics` needs one with PULLTHROUGH_METRICS_AUTH.
 */
export const ADMIN_PORT_PUBLIC: readonly PublicAdminRoute[] = [
  { method: 'GET', route: '/healthz', why: 'liveness: answers {"status":"ok"}' },
  { method: 'GET', route: '/readyz', why: 'readiness: storage and Redis reachability, no data' },
  { method: 'GET', route: '/metrics', why: 'Prometheus counts and states, never a secret (PULLTHROUGH_METRICS_AUTH puts it behind a token)' },
  // The console's files are the same for everyone and hold no data; every API call they make carries the token.
  { method: 'GET', route: '/console/*', why: 'the web console\'s static files (index.html and hashed assets); no data' },
];

/** Stable audit reasons for the body-dependent rule. */
export type CredentialRuleChange =
  | 'credential-set-rule-made-anonymous'
  | 'credential-set-rule-credential-set-changed'
  | 'credential-set-rule-source-changed'
  | 'credential-set-rule-target-changed'
  | 'credential-set-rule-shadowed'
  | 'credential-set-rule-deleted';

/** Other body- or query-dependent escalations: `DELETE .../cache-rules/<name>?purge=true`, a real retention run. */
/** `gc-deletes`: a garbage collection that is not a dry run. */
export type EscalationReason = CredentialRuleChange | 'cache-rule-purge' | 'retention-run' | 'gc-deletes';

/** A change the table's role cannot make: it needs `admin`. */
export interface RoleEscalation {
  role: AdminRole;
  reason: EscalationReason;
  /** For the 403 problem: what the change would do. */
  detail: string;
}

const field = (body: unknown, key: string): unknown => (typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[key] : undefined);
const targetPrefix = (target: string) => (target.endsWith('/*') ? target.slice(0, -2) : target);
/** Could one downstream repository match both target patterns (the more specific rule would win it)? */
const targetsOverlap = (a: string, b: string) => {
  const [pa, pb] = [targetPrefix(a), targetPrefix(b)];
  return pa === pb || pa.startsWith(`${pb}/`) || pb.startsWith(`${pa}/`);
};
const needsAdmin = (reason: CredentialRuleChange, detail: string): RoleEscalation => ({ role: 'admin', reason, detail });

/**
 * The body-dependent rule next to the table: a cache rule with a credential set serves content only
 * those credentials could fetch, so changing who can pull it needs `admin`, although rules are an
 * operator's otherwise. Needs `admin`, for a stored rule (`existing`) that has a credential set: a PUT
 * that changes or removes its `credentialSetName`, changes its `sourceRepository` or its
 * `targetRepository` (what was fetched for the old target would be left without its rule), and a
 * DELETE (`next` undefined). For any PUT: `anonymousPull: true` with a `credentialSetName` (unless
 * the stored rule already says exactly that), and a target that overlaps another rule with a
 * credential set (`others`) without that same set (the more specific rule would serve its content).
 * Anything else (rules without a set, freshness, platforms...) stays an operator's.
 */
export function credentialRuleChangeNeedsAdmin(existing: CacheRule | undefined, next: { body: unknown } | undefined, others: readonly CacheRule[] = []): RoleEscalation | undefined {
  const set = existing?.credentialSetName;
  if (next === undefined) return set === undefined ? undefined : needsAdmin('credential-set-rule-deleted', `deleting a cache rule that uses credential set "${set}"`);
  const nextSet = field(next.body, 'credentialSetName');
  const nextTarget = field(next.body, 'targetRepository');
  if (existing !== undefined && set !== undefined) {
    if (nextSet !== set) return needsAdmin('credential-set-rule-credential-set-changed', `changing or removing the credential set ("${set}") of a cache rule`);
    if (field(next.body, 'sourceRepository') !== existing.sourceRepository) {
      return needsAdmin('credential-set-rule-source-changed', `changing the sourceRepository of a cache rule that uses credential set "${set}"`);
    }
    if (nextTarget !== existing.targetRepository) {
      return needsAdmin('credential-set-rule-target-changed', `changing the targetRepository of a cache rule that uses credential set "${set}"`);
    }
  }
  const alreadyAnonymous = set !== undefined && existing!.anonymousPull === true;
  if (field(next.body, 'anonymousPull') === true && typeof nextSet === 'string' && nextSet !== '' && !alreadyAnonymous) {
    return needsAdmin('credential-set-rule-made-anonymous', `letting anonymous clients pull what credential set "${nextSet}" fetches (anonymousPull: true)`);
  }
  if (typeof nextTarget === 'string' && nextTarget !== existing?.targetRepository) {
    const shadowed = others.find((r) => r.name !== existing?.name && r.credentialSetName !== undefined && r.credentialSetName !== nextSet && targetsOverlap(r.targetRepository, nextTarget));
    if (shadowed) {
      return needsAdmin('credential-set-rule-shadowed', `a targetRepository overlapping that of cache rule "${shadowed.name}", which uses credential set "${shadowed.credentialSetName}"`);
    }
  }
  return undefined;
}

/** What the table says about one request. */
export interface AccessDecision {
  role: AdminRole;
  action: string;
  /** The route pattern (`/cache-rules/:name`), or the raw path when no row matched. */
  route: string;
  /** The `:name` segment, decoded. */
  target?: string;
}

function segmentsOf(path: string): string[] {
  // express routes ignore a trailing slash and letter case; so does the table.
  return path.split('/').filter(Boolean);
}

function match(rule: AccessRule, segs: string[]): { target?: string } | undefined {
  const pattern = segmentsOf(rule.route);
  let target: string | undefined;
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p === '*') return { target };
    const s = segs[i];
    if (s === undefined) return undefined;
    if (p === ':name') {
      try {
        target = decodeURIComponent(s);
      } catch {
        return undefined;
      }
    } else if (p.toLowerCase() !== s.toLowerCase()) return undefined;
  }
  return segs.length === pattern.length ? { target } : undefined;
}

/** The access decision for `method path` (path relative to /api/v1; HEAD is GET). Unmatched: `admin`. */
export function accessFor(method: string, path: string): AccessDecision {
  const m = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
  const segs = segmentsOf(path);
  for (const rule of ADMIN_ACCESS) {
    if (rule.method !== m) continue;
    const found = match(rule, segs);
    if (found) return { role: rule.role, action: rule.action, route: rule.route === '/*' ? path.slice(0, 300) : rule.route, ...(found.target !== undefined ? { target: found.target } : {}) };
  }
  return { role: 'admin', action: 'unlisted', route: path.slice(0, 300) };
}
