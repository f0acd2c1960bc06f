import { CREDENTIAL_SETS_KIND, credentialSetSchema, type CredentialSet } from '@pullthrough/credentials';
import type { RegistryStore } from '@pullthrough/storage';
import { ProblemError, type FieldIssue } from '../admin/problem.js';

/**
 * Credential sets in the storage control area (kind `credential-sets`): references to secrets,
 * never values. `isReferenced` lets deletes refuse sets that rules still use.
 */
export class CredentialSetRegistry {
  constructor(
    private readonly store: RegistryStore,
    private readonly isReferenced: (name: string) => string[],
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

  /** Validate and store; field errors become a 422 problem. */
  async put(name: string, input: Record<string, unknown>): Promise<{ set: CredentialSet; created: boolean }> {
    if (input.name !== undefined && input.name !== name) {
      throw new ProblemError(422, 'Unprocessable Entity', 'the credential set is not valid', [{ field: 'name', message: `must match the name in the path ("${name}")` }]);
    }
    const parsed = credentialSetSchema.safeParse({ ...input, name });
    if (!parsed.success) {
      const errors: FieldIssue[] = parsed.error.issues.map((i) => ({ field: i.path.map(String).join('.') || '(body)', message: i.message }));
      throw new ProblemError(422, 'Unprocessable Entity', 'the credential set is not valid', errors);
    }
    const created = (await this.store.getControl(CREDENTIAL_SETS_KIND, name)) === undefined;
    await this.store.putControl(CREDENTIAL_SETS_KIND, name, parsed.data);
    return { set: parsed.data, created };
  }

  /** False when it did not exist; a 409 problem while rules reference it. */
  async delete(name: string): Promise<boolean> {
    const users = this.isReferenced(name);
    if (users.length > 0) {
      throw new ProblemError(409, 'Conflict', `credential set "${name}" is used by cache rules: ${users.join(', ')}`, [
        { field: 'name', message: 'delete or change the cache rules that reference it first' },
      ]);
    }
    if ((await this.store.getControl(CREDENTIAL_SETS_KIND, name)) === undefined) return false;
    await this.store.deleteControl(CREDENTIAL_SETS_KIND, name);
    return true;
  }
}
