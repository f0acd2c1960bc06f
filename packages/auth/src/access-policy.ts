import { z } from 'zod';
import { REPOSITORY_ACTIONS, type RepositoryAction } from './scope.js';

/** Every authenticated user belongs to this group; anonymous clients never do. */
export const AUTHENTICATED_GROUP = 'authenticated';

const SUBJECT = /^[A-Za-z0-9._@-]{1,100}$/;
const SUBJECT_MESSAGE = "must be 1-100 characters of letters, digits and '.', '_', '@', '-'";
const SEGMENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
/** `*` (every repository), `team/*` (everything under team/), or one repository name. */
const PATTERN = new RegExp(`^(?:\\*|${SEGMENT}(?:/${SEGMENT})*(?:/\\*)?)$`);
const PATTERN_MESSAGE = "must be '*', a repository name, or a prefix ending in '/*' (e.g. 'dockerhub/*')";

const subject = z.string({ error: 'must be a string' }).regex(SUBJECT, SUBJECT_MESSAGE);

const grantSchema = z
  .strictObject({
    users: z.array(subject).max(1000).optional(),
    groups: z.array(subject).max(100).optional(),
    repositories: z.array(z.string({ error: 'must be a string' }).max(255).regex(PATTERN, PATTERN_MESSAGE)).min(1, 'must list at least one repository pattern').max(1000),
    actions: z.array(z.enum(REPOSITORY_ACTIONS as [RepositoryAction, ...RepositoryAction[]], { error: "must be 'pull', 'push' or 'delete'" })).min(1, 'must list at least one action'),
  })
  .refine((g) => (g.users?.length ?? 0) + (g.groups?.length ?? 0) > 0, { message: 'must name at least one user or group', path: ['users'] });

/**
 * Who may do what where: groups of users, and grants of actions on repository patterns to users
 * and groups. Users and their passwords live in the htpasswd file; this names them only.
 */
export const accessPolicySchema = z.strictObject(
  {
    groups: z.record(subject, z.array(subject).max(10000)).optional(),
    grants: z.array(grantSchema).max(1000),
  },
  { error: (iss) => (iss.code === 'invalid_type' ? 'must be an object' : undefined) },
);

export type AccessPolicyDocument = z.infer<typeof accessPolicySchema>;

/** Until an operator sets a policy: every authenticated user may pull every repository. */
export const DEFAULT_ACCESS_POLICY: AccessPolicyDocument = { grants: [{ groups: [AUTHENTICATED_GROUP], repositories: ['*'], actions: ['pull'] }] };

export interface AccessPolicyIssue {
  field: string;
  message: string;
}

export class AccessPolicyValidationError extends Error {
  constructor(readonly issues: AccessPolicyIssue[]) {
    super(`invalid access policy: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`);
    this.name = 'AccessPolicyValidationError';
  }
}

const fieldOf = (path: PropertyKey[]) => path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), '');

/** Validate an untrusted policy document (admin API body, YAML); every problem with its field. */
export function parseAccessPolicy(input: unknown): AccessPolicyDocument {
  const parsed = accessPolicySchema.safeParse(input);
  if (!parsed.success) {
    throw new AccessPolicyValidationError(
      parsed.error.issues.flatMap((i) =>
        i.code === 'unrecognized_keys' ? i.keys.map((k) => ({ field: fieldOf([...i.path, k]), message: 'unknown field' })) : [{ field: fieldOf(i.path), message: i.message }],
      ),
    );
  }
  return parsed.data;
}

function matches(pattern: string, repository: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('/*')) return repository.startsWith(pattern.slice(0, -1));
  return pattern === repository;
}

/** A compiled policy: the actions a user may take on a repository. */
export class AccessPolicy {
  private readonly groupsOf = new Map<string, Set<string>>();

  constructor(readonly document: AccessPolicyDocument) {
    for (const [group, members] of Object.entries(document.groups ?? {})) {
      for (const user of members) {
        const set = this.groupsOf.get(user) ?? new Set<string>();
        set.add(group);
        this.groupsOf.set(user, set);
      }
    }
  }

  /** Actions `user` (authenticated) may take on `repository`. */
  actionsFor(user: string, repository: string): Set<RepositoryAction> {
    const groups = this.groupsOf.get(user);
    const out = new Set<RepositoryAction>();
    for (const grant of this.document.grants) {
      const applies = grant.users?.includes(user) || grant.groups?.some((g) => g === AUTHENTICATED_GROUP || groups?.has(g));
      if (!applies || !grant.repositories.some((p) => matches(p, repository))) continue;
      for (const a of grant.actions) out.add(a);
    }
    return out;
  }
}
