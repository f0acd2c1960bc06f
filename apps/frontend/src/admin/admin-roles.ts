/**
 * Admin API roles, weakest first. `reader` may GET everything under /api/v1 (no secret is ever
 * returned); `operator` may also change cache rules and run prefetch, verify and ping; `admin`
 * may also change credential sets and webhooks. Which route needs which: admin-access.ts.
 */
export const ADMIN_ROLES = ['reader', 'operator', 'admin'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export const isAdminRole = (v: string): v is AdminRole => (ADMIN_ROLES as readonly string[]).includes(v);

/** Whether `held` is at least `needed`. */
export const roleAtLeast = (held: AdminRole, needed: AdminRole): boolean => ADMIN_ROLES.indexOf(held) >= ADMIN_ROLES.indexOf(needed);

/** The strongest of `roles` (undefined for none). */
export function strongestRole(roles: Iterable<AdminRole>): AdminRole | undefined {
  let best: AdminRole | undefined;
  for (const r of roles) if (best === undefined || roleAtLeast(r, best)) best = r;
  return best;
}

/** Default `PULLTHROUGH_ADMIN_OIDC_ROLE_MAP`: Entra app roles named after ours. */
export const DEFAULT_ROLE_MAP = 'Pullthrough.Reader=reader,Pullthrough.Operator=operator,Pullthrough.Admin=admin';

/**
 * Parse `claimValue=role,claimValue=role,...` (a claim value is matched exactly, case-sensitively;
 * several values may map to one role). Throws a message naming the bad entry.
 */
export function parseRoleMap(text: string): ReadonlyMap<string, AdminRole> {
  const map = new Map<string, AdminRole>();
  for (const entry of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.lastIndexOf('=');
    const value = entry.slice(0, eq).trim();
    const role = entry.slice(eq + 1).trim();
    if (eq <= 0 || value === '') throw new Error(`"${entry}" is not claimValue=role`);
    if (!isAdminRole(role)) throw new Error(`"${entry}": role must be one of ${ADMIN_ROLES.join(', ')}`);
    if (map.has(value)) throw new Error(`"${value}" is mapped twice`);
    map.set(value, role);
  }
  if (map.size === 0) throw new Error('maps no claim value to a role');
  return map;
}
