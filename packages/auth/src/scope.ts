/** What a client may do to a repository. `push` and `delete` are granted and checked here; the routes for them come later. */
export type RepositoryAction = 'pull' | 'push' | 'delete';
export const REPOSITORY_ACTIONS: readonly RepositoryAction[] = ['pull', 'push', 'delete'];

/** One resource scope of the distribution token flow: `repository:<name>:<actions>`. */
export interface RepositoryScope {
  type: 'repository';
  name: string;
  actions: RepositoryAction[];
}

const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const MAX_SCOPES = 64;

/**
 * Parse `scope` values as docker (one parameter per scope) and containerd (space-separated) send
 * them. Unknown resource types (`registry:catalog:*`), unknown actions and malformed entries are
 * dropped, as a token server grants only what it understands; `*` means every action.
 * Scopes for the same repository are merged.
 */
export function parseScopes(values: readonly string[]): RepositoryScope[] {
  const byName = new Map<string, Set<RepositoryAction>>();
  const items = values.flatMap((v) => v.split(' ')).filter(Boolean).slice(0, MAX_SCOPES);
  for (const item of items) {
    const first = item.indexOf(':');
    const last = item.lastIndexOf(':');
    if (first < 0 || last <= first) continue;
    const type = item.slice(0, first);
    const name = item.slice(first + 1, last);
    if (type !== 'repository' || name.length > 255 || !NAME.test(name)) continue;
    const actions = item
      .slice(last + 1)
      .split(',')
      .flatMap((a): RepositoryAction[] => (a === '*' ? [...REPOSITORY_ACTIONS] : (REPOSITORY_ACTIONS as readonly string[]).includes(a) ? [a as RepositoryAction] : []));
    const set = byName.get(name) ?? new Set<RepositoryAction>();
    for (const a of actions) set.add(a);
    byName.set(name, set);
  }
  return [...byName].map(([name, actions]) => ({ type: 'repository', name, actions: REPOSITORY_ACTIONS.filter((a) => actions.has(a)) }));
}

/** `repository:<name>:<a,b>` as it goes in a challenge's `scope`. */
export function formatScope(name: string, actions: readonly RepositoryAction[]): string {
  return `repository:${name}:${actions.join(',')}`;
}
