import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { CACHE_RULES_KIND, CacheRuleSet, CacheRuleValidationError, parseCacheRule, ruleRegistry, sameOrigin, sameRegistry, type CacheRule, type ParseCacheRuleOptions } from '@pullthrough/cache-rules';
import { CREDENTIAL_SETS_KIND, credentialSetSchema, DEFAULT_SECRET_POLICY, type CredentialSet, type SecretReferencePolicy } from '@pullthrough/credentials';
import type { ConfigChangeAnnouncer } from '@pullthrough/operations';
import { purgeCachedContent, type RepositoryPurge } from '@pullthrough/pull-through';
import type { RegistryStore } from '@pullthrough/storage';
import { credentialSetFileIssues, credentialSetIssues } from '../credentials/credential-set-registry.js';

const KIND = CACHE_RULES_KIND;

/**
 * The live cache rule set. Durable in the storage control area (the source of truth); held in
 * memory for matching, reloaded periodically so several frontends converge on admin changes.
 * Writes are serialized in-process.
 */
export class RuleRegistry {
  private current: CacheRuleSet;
  private chain: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** Tells the other processes about a stored change (Redis pub/sub); unset: they find it by polling. */
  announce: ConfigChangeAnnouncer = () => undefined;

  constructor(
    private readonly store: RegistryStore,
    private readonly selfHosts: string[] = [],
    /** Secret references the rules file's `credentialSets:` may use. */
    private readonly secretPolicy: SecretReferencePolicy = DEFAULT_SECRET_POLICY,
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
    const next = CacheRuleSet.create(stored.map((r) => parseCacheRule(r)), { selfHosts: this.selfHosts });
    // Another frontend changed the rules (and forgot what moved): drop what this process keeps in memory.
    if (JSON.stringify(next.list()) !== JSON.stringify(this.current.list())) this.store.forgetCached();
    this.current = next;
  }

  /**
   * Before a rule change takes effect: every stored repository whose content came through a rule
   * and would now come from elsewhere (another rule, upstream or credential set, or no rule at all)
   * forgets what it holds, so content fetched with one rule's credentials is never served under
   * another's terms. Blobs stay (shared, content-addressed); the new mapping fetches or confirms.
   * Tags pushed here (`source: 'local'`) stay, with the manifests and links they need. Returns what went.
   */
  private async forgetMoved(next: CacheRuleSet): Promise<RepositoryPurge[]> {
    const forgotten: RepositoryPurge[] = [];
    for (const repository of await this.store.listRepositories()) {
      const before = this.current.match(repository);
      if (before && !sameOrigin(before, next.match(repository))) forgotten.push(await purgeCachedContent(this.store, repository));
    }
    return forgotten;
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
      await this.forgetMoved(next);
      await this.store.putControl(KIND, rule.name, rule);
      this.current = next;
      this.announce({ kind: 'cache-rules', name: rule.name });
      return { rule, created };
    });
  }

  /**
   * Delete a rule; its repositories forget their cached content (forgetMoved). Resolves to what
   * they forgot, or undefined when there is no such rule.
   */
  delete(name: string): Promise<RepositoryPurge[] | undefined> {
    return this.serialize(async () => {
      if (!this.current.get(name)) return undefined;
      const next = this.current.withoutRule(name);
      const forgotten = await this.forgetMoved(next);
      await this.store.deleteControl(KIND, name);
      this.current = next;
      this.announce({ kind: 'cache-rules', name });
      return forgotten;
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
        const { set, issues } = credentialSetIssues(input, this.secretPolicy);
        if (!set) throw new Error(`${path}: credentialSets[${i}] is invalid:\n  ${issues.map((x) => `credentialSets[${i}].${x.field}: ${x.message}`).join('\n  ')}`);
        return set;
      });
      for (const [i, set] of sets.entries()) {
        const escapes = await credentialSetFileIssues(set, this.secretPolicy);
        if (escapes.length > 0) throw new Error(`${path}: credentialSets[${i}] is invalid:\n  ${escapes.map((x) => `credentialSets[${i}].${x.field}: ${x.message}`).join('\n  ')}`);
      }
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
      // Every rule of the resulting set (the file's and those already stored) against the sets it
      // would use (the file's version of a set wins): each must exist and be for the rule's registry.
      const inFile = new Map(sets.map((s) => [s.name, s]));
      for (const rule of next.list()) {
        if (!rule.credentialSetName) continue;
        const i = rules.findIndex((r) => r.name === rule.name);
        const where = i >= 0 ? `cacheRules[${i}]` : `stored rule "${rule.name}"`;
        const set = inFile.get(rule.credentialSetName) ?? (await this.storedSet(rule.credentialSetName));
        const issue = bindingIssue(rule, set);
        if (issue) throw new Error(`${path}: invalid rule:\n  ${where}.credentialSetName: ${issue}`);
      }
      await this.forgetMoved(next);
      for (const set of sets) await this.store.putControl(CREDENTIAL_SETS_KIND, set.name, set);
      for (const rule of rules) await this.store.putControl(KIND, rule.name, rule);
      this.current = next;
      for (const set of sets) this.announce({ kind: 'credential-sets', name: set.name });
      for (const rule of rules) this.announce({ kind: 'cache-rules', name: rule.name });
      return rules.length;
    });
  }

  private saveOptions(): ParseCacheRuleOptions {
    return this.checkUpstreamHost ? { checkUpstreamHost: this.checkUpstreamHost } : {};
  }

  /** A rule may only name a credential set that exists (create the set first) and is for the rule's upstream registry. */
  private async requireCredentialSet(rule: CacheRule): Promise<void> {
    if (!rule.credentialSetName) return;
    const issue = bindingIssue(rule, await this.storedSet(rule.credentialSetName));
    if (issue) throw new CacheRuleValidationError([{ field: 'credentialSetName', message: issue }]);
  }

  private async storedSet(name: string): Promise<CredentialSet | undefined> {
    const parsed = credentialSetSchema.safeParse(await this.store.getControl<unknown>(CREDENTIAL_SETS_KIND, name));
    return parsed.success ? parsed.data : undefined;
  }

  /** Reload from storage now (another process announced a change), in turn with this process's own writes. */
  reload(): Promise<void> {
    return this.serialize(() => this.load());
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

/** Why `rule` may not use `set` (undefined: it may): the set must exist and its loginServer be the rule's upstream registry. */
export function bindingIssue(rule: CacheRule, set: CredentialSet | undefined): string | undefined {
  if (set === undefined) return `credential set "${rule.credentialSetName}" does not exist`;
  const registry = ruleRegistry(rule);
  if (registry !== undefined && sameRegistry(set.loginServer, registry)) return undefined;
  const host = rule.sourceRepository.split('/')[0];
  return `credential set "${set.name}" is for ${set.loginServer} (its loginServer), not for this rule's upstream ${host}: a set's secrets go only to its own registry`;
}
