import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { AccessPolicy, AccessPolicyValidationError, DEFAULT_ACCESS_POLICY, parseAccessPolicy, type AccessPolicyDocument } from '@pullthrough/auth';
import type { ConfigChangeAnnouncer } from '@pullthrough/operations';
import type { RegistryStore } from '@pullthrough/storage';

const KIND = 'access-policy';
const NAME = 'default';

/**
 * The live access policy (who may pull, push, delete where). Durable in the storage control area,
 * seeded from the YAML rules file's `accessPolicy`, changed by the admin API, and reloaded with
 * the rules so every frontend converges. Without one, DEFAULT_ACCESS_POLICY applies.
 */
export class AccessPolicyRegistry {
  private current = new AccessPolicy(DEFAULT_ACCESS_POLICY);
  private custom = false;
  /** Tells the other processes the policy changed (they reload it). */
  announce: ConfigChangeAnnouncer = () => undefined;

  constructor(private readonly store: RegistryStore) {}

  get policy(): AccessPolicy {
    return this.current;
  }

  /** The policy in force and whether an operator set it. */
  describe(): { accessPolicy: AccessPolicyDocument; default: boolean } {
    return { accessPolicy: this.current.document, default: !this.custom };
  }

  async load(): Promise<void> {
    const stored = await this.store.getControl<unknown>(KIND, NAME);
    this.custom = stored !== undefined;
    this.current = new AccessPolicy(stored === undefined ? DEFAULT_ACCESS_POLICY : parseAccessPolicy(stored));
  }

  async put(input: unknown): Promise<AccessPolicyDocument> {
    const doc = parseAccessPolicy(input);
    await this.store.putControl(KIND, NAME, doc);
    this.current = new AccessPolicy(doc);
    this.custom = true;
    this.announce({ kind: 'access-policy', name: NAME });
    return doc;
  }

  /** Back to the default policy. */
  async reset(): Promise<void> {
    await this.store.deleteControl(KIND, NAME);
    this.current = new AccessPolicy(DEFAULT_ACCESS_POLICY);
    this.custom = false;
    this.announce({ kind: 'access-policy', name: NAME });
  }

  /** Apply the YAML file's `accessPolicy` (if it has one); a bad policy stops start with its fields. */
  async applyFile(path: string): Promise<boolean> {
    const doc = parseYaml(await readFile(path, 'utf8')) as { accessPolicy?: unknown } | null;
    if (doc?.accessPolicy === undefined) return false;
    try {
      await this.put(doc.accessPolicy);
    } catch (err) {
      if (err instanceof AccessPolicyValidationError) {
        throw new Error(`${path}: invalid accessPolicy:\n  ${err.issues.map((i) => `accessPolicy.${i.field}: ${i.message}`).join('\n  ')}`);
      }
      throw err;
    }
    return true;
  }
}
