import { ruleRegistry, sameRegistry, type CacheRule } from '@pullthrough/cache-rules';
import {
  CREDENTIAL_SETS_KIND,
  credentialSetReferenceIssues,
  credentialSetSchema,
  fileReferenceIssue,
  SECRET_FIELDS,
  secretFieldPath,
  type CredentialSet,
  type SecretReferencePolicy,
} from '@pullthrough/credentials';
import type { ConfigChangeAnnouncer } from '@pullthrough/operations';
import type { RegistryStore } from '@pullthrough/storage';
import { ProblemError, type FieldIssue } from '../admin/problem.js';

/** `['authCredentials', 0, 'passwordSecretIdentifier']` -> `authCredentials[0].passwordSecretIdentifier`. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? String(part) : `.${String(part)}`;
  return out === '' ? '(body)' : out;
}

/**
 * Why a credential set cannot be saved as it is: schema problems, then secret references outside
 * the operator's policy (checked without reading anything). Field-level; never repeats a reference.
 */
export function credentialSetIssues(input: unknown, policy: SecretReferencePolicy): { set?: CredentialSet; issues: FieldIssue[] } {
  const parsed = credentialSetSchema.safeParse(input);
  if (!parsed.success) return { issues: parsed.error.issues.map((i) => ({ field: fieldPath(i.path), message: i.message })) };
  const issues = credentialSetReferenceIssues(parsed.data, policy);
  return issues.length > 0 ? { issues } : { set: parsed.data, issues };
}

/** `file:` references whose real path (symlinks followed; the file is not read) escapes the allowed directories. */
export async function credentialSetFileIssues(set: CredentialSet, policy: SecretReferencePolicy): Promise<FieldIssue[]> {
  const issues: FieldIssue[] = [];
  for (const [i, cred] of (set.authCredentials ?? []).entries()) {
    for (const field of SECRET_FIELDS) {
      const issue = await fileReferenceIssue(cred[field], policy);
      if (issue !== null) issues.push({ field: secretFieldPath(i, field), message: issue });
    }
  }
  return issues;
}

/** Rules among `users` whose upstream is not the registry `loginServer` names. */
export function rulesOnOtherRegistries(users: readonly CacheRule[], loginServer: string): CacheRule[] {
  return users.filter((r) => {
    const registry = ruleRegistry(r);
    return registry === undefined || !sameRegistry(registry, loginServer);
  });
}

/**
 * Credential sets in the storage control area (kind `credential-sets`): references to secrets,
 * never values. `usersOf` gives the rules that use a set: deletes refuse sets in use, and a set's
 * `loginServer` cannot move away from the registry of a rule that uses it.
 */
export class CredentialSetRegistry {
  /** Tells the other processes a set changed (they drop its cached secrets and health). */
  announce: ConfigChangeAnnouncer = () => undefined;

  constructor(
    private readonly store: RegistryStore,
    private readonly usersOf: (name: string) => CacheRule[],
    private readonly policy: SecretReferencePolicy,
  ) {}

  async list(): Promise<CredentialSet[]> {
    const stored = await this.store.listControl<unknown>(CREDENTIAL_SETS_KIND);
    return stored.flatMap((raw) => {
      const parsed = credentialSetSchema.safeParse(raw);
      return parsed.success ? [parsed.data] : [];
    });
  }

  async get(name: string): Promise<CredentialSet | undefined> {
    const raw = await this.store.getControl<unknown>(CREDENTIAL_SETS_KIND, name);
    if (raw === undefined) return undefined;
    const parsed = credentialSetSchema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * Validate and store. Field errors (schema, secret reference policy) are a 422 problem; a
   * `loginServer` that rules using the set do not fetch from is a 409 problem on `loginServer`.
   */
  async put(name: string, input: Record<string, unknown>): Promise<{ set: CredentialSet; created: boolean }> {
    if (input.name !== undefined && input.name !== name) {
      throw new ProblemError(422, 'Unprocessable Entity', 'the credential set is not valid', [{ field: 'name', message: `must match the name in the path ("${name}")` }]);
    }
    const { set, issues } = credentialSetIssues({ ...input, name }, this.policy);
    if (!set) throw new ProblemError(422, 'Unprocessable Entity', 'the credential set is not valid', issues);
    const escapes = await credentialSetFileIssues(set, this.policy);
    if (escapes.length > 0) throw new ProblemError(422, 'Unprocessable Entity', 'the credential set is not valid', escapes);
    const elsewhere = rulesOnOtherRegistries(this.usersOf(name), set.loginServer);
    if (elsewhere.length > 0) {
      const names = elsewhere.map((r) => r.name).join(', ');
      throw new ProblemError(409, 'Conflict', `credential set "${name}" is used by cache rules for another registry: ${names}`, [
        {
          field: 'loginServer',
          message: `cache rules ${names} use this set for ${elsewhere.map((r) => ruleRegistry(r) ?? r.sourceRepository).join(', ')}; a set's secrets go only to its loginServer: change those rules first`,
        },
      ]);
    }
    const created = (await this.store.getControl(CREDENTIAL_SETS_KIND, name)) === undefined;
    await this.store.putControl(CREDENTIAL_SETS_KIND, name, set);
    this.announce({ kind: 'credential-sets', name });
    return { set, created };
  }

  /** False when it did not exist; a 409 problem while rules reference it. */
  async delete(name: string): Promise<boolean> {
    const users = this.usersOf(name).map((r) => r.name);
    if (users.length > 0) {
      throw new ProblemError(409, 'Conflict', `credential set "${name}" is used by cache rules: ${users.join(', ')}`, [
        { field: 'name', message: 'delete or change the cache rules that reference it first' },
      ]);
    }
    if ((await this.store.getControl(CREDENTIAL_SETS_KIND, name)) === undefined) return false;
    await this.store.deleteControl(CREDENTIAL_SETS_KIND, name);
    this.announce({ kind: 'credential-sets', name });
    return true;
  }
}
