import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { CacheRuleSet, CacheRuleValidationError, parseCacheRule, type CacheRule, type ParseCacheRuleOptions } from '@pullthrough/cache-rules';
import { CREDENTIAL_SETS_KIND, parseCredentialSet, type CredentialSet } from '@pullthrough/credentials';
import type { RegistryStore } from '@pullthrough/storage';

const KIND = 'cache-rules';

/**
 * The live cache rule set. Durable in the storage control area (the source of truth); held in
 * memory for matching, reloaded periodically so several frontends converge on admin changes.
 * Writes are serialized in-process.
 */
export class RuleRegistry {
  private current: CacheRuleSet;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: RegistryStore,
    private readonly selfHosts: string[] = [],
    /** Save-time egress check of a rule's upstream host (PUT and the rules file; see ParseCacheRuleOptions). */
    private readonly checkUpstreamHost?: (registry: string) => string | undefined,
  ) {
    this.current = CacheRuleSet.create([], { selfHosts });
  }

  get rules(): CacheRuleSet {
    return this.current;
  }

  async load(): Promise<void> {
    const stored = await this.store.listControl<CacheRule>(KIND);
    this.current = CacheRuleSet.create(stored.map((r) => parseCacheRule(r)), { selfHosts: this.selfHosts });
  }

  /** Validate a rule against the set and persist it. Returns whether it was new. */
  put(name: string, input: unknown): Promise<{ rule: CacheRule; created: boolean }> {
    return this.serialize(async () => {
      const body = typeof input === 'object' && input !== null ? { ...(input as Record<string, unknown>) } : input;
      if (typeof body === 'object' && body !== null) {
        const named = body as Record<string, unknown>;
        if (named.name !== undefined && named.name !== name) {
          throw new CacheRuleValidationError([{ field: 'name', message: `must match the name in the path ("${name}")` }]);
        }
        named.name = name;
      }
      const rule = parseCacheRule(body, this.saveOptions());
      await this.requireCredentialSet(rule);
      const created = this.current.get(name) === undefined;
      const next = this.current.withRule(rule);
      await this.store.putControl(KIND, rule.name, rule);
      this.current = next;
      return { rule, created };
    });
  }

  delete(name: string): Promise<boolean> {
    return this.serialize(async () => {
      if (!this.current.get(name)) return false;
      await this.store.deleteControl(KIND, name);
      this.current = this.current.withoutRule(name);
      return true;
    });
  }

  /**
   * Apply a YAML rules file (`cacheRules: [...]`, optional `credentialSets: [...]` of secret
   * references) at start: everything is validated before anything is written.
   */
  applyFile(path: string): Promise<number> {
    return this.serialize(async () => {
      const doc = parseYaml(await readFile(path, 'utf8')) as { cacheRules?: unknown[]; credentialSets?: unknown[] } | null;
      const inputs = doc?.cacheRules ?? [];
      if (!Array.isArray(inputs)) throw new Error(`${path}: cacheRules must be a list`);
      const setInputs = doc?.credentialSets ?? [];
      if (!Array.isArray(setInputs)) throw new Error(`${path}: credentialSets must be a list`);
      const sets: CredentialSet[] = setInputs.map((input, i) => {
        try {
          return parseCredentialSet(input);
        } catch (err) {
          throw new Error(`${path}: credentialSets[${i}] is invalid: ${(err as Error).message}`);
        }
      });
      let next = this.current;
      const rules: CacheRule[] = [];
      inputs.forEach((input, i) => {
        try {
          const rule = parseCacheRule(input, this.saveOptions());
          next = next.withRule(rule);
          rules.push(rule);
        } catch (err) {
          if (err instanceof CacheRuleValidationError) {
            const lines = err.issues.map((x) => `cacheRules[${i}].${x.field}: ${x.message}`);
            throw new Error(`${path}: invalid rule:\n  ${lines.join('\n  ')}`);
          }
          throw err;
        }
      });
      const inFile = new Set(sets.map((s) => s.name));
      for (const [i, rule] of rules.entries()) {
        if (rule.credentialSetName && !inFile.has(rule.credentialSetName)) {
          await this.requireCredentialSet(rule).catch(() => {
            throw new Error(`${path}: invalid rule:\n  cacheRules[${i}].credentialSetName: credential set "${rule.credentialSetName}" does not exist`);
          });
        }
      }
      for (const set of sets) await this.store.putControl(CREDENTIAL_SETS_KIND, set.name, set);
      for (const rule of rules) await this.store.putControl(KIND, rule.name, rule);
      this.current = next;
      return rules.length;
    });
  }

  private saveOptions(): ParseCacheRuleOptions {
    return this.checkUpstreamHost ? { checkUpstreamHost: this.checkUpstreamHost } : {};
  }

  /** A rule may only name a credential set that exists (create the set first). */
  private async requireCredentialSet(rule: CacheRule): Promise<void> {
    if (!rule.credentialSetName) return;
    if ((await this.store.getControl(CREDENTIAL_SETS_KIND, rule.credentialSetName)) !== undefined) return;
    throw new CacheRuleValidationError([{ field: 'credentialSetName', message: `credential set "${rule.credentialSetName}" does not exist` }]);
  }

  /** Reload from storage every `ms` (other frontends' admin changes), and whatever else reloads with the rules. */
  startPolling(ms: number, onError: (err: unknown) => void, alsoReload?: () => Promise<void>): void {
    this.timer = setInterval(() => {
      this.serialize(() => this.load()).catch(onError);
      alsoReload?.().catch(onError);
    }, ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
