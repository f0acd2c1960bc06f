import type { AccessPolicy } from './access-policy.js';
import type { Principal } from './principal.js';
import type { RepositoryAction, RepositoryScope } from './scope.js';

export interface AuthorizerOptions {
  /** The current access policy (users and groups -> repository patterns -> actions). */
  policy: () => AccessPolicy;
  /** May anonymous clients pull this repository (the rule's `anonymousPull`, the global switch)? */
  anonymousPull: (repository: string) => boolean;
}

/**
 * The actions a principal may take on a repository now. A token never grants more than its
 * scopes, and never more than its subject may do now (a policy change or a rule that stops
 * allowing anonymous pulls applies to tokens already issued).
 */
export class Authorizer {
  constructor(private readonly options: AuthorizerOptions) {}

  /** What `subject` may do (anonymous when undefined), from the policy and rules alone. */
  permitted(subject: string | undefined, repository: string): Set<RepositoryAction> {
    if (subject === undefined) return new Set(this.options.anonymousPull(repository) ? ['pull'] : []);
    const actions = this.options.policy().actionsFor(subject, repository);
    if (this.options.anonymousPull(repository)) actions.add('pull');
    return actions;
  }

  /** What a token for `subject` (undefined: anonymous) gets of the scopes it asked for: each cut to what is permitted, empty ones dropped. */
  grant(subject: string | undefined, requested: readonly RepositoryScope[]): RepositoryScope[] {
    return requested
      .map((s) => {
        const permitted = this.permitted(subject, s.name);
        return { type: 'repository' as const, name: s.name, actions: s.actions.filter((a) => permitted.has(a)) };
      })
      .filter((s) => s.actions.length > 0);
  }

  allows(principal: Principal, repository: string, action: RepositoryAction): boolean {
    switch (principal.kind) {
      case 'anonymous':
        return this.permitted(undefined, repository).has(action);
      case 'user':
        return this.permitted(principal.subject, repository).has(action);
      case 'token': {
        const scoped = principal.access.some((s) => s.name === repository && s.actions.includes(action));
        return scoped && this.permitted(principal.anonymous ? undefined : principal.subject, repository).has(action);
      }
    }
  }
}
