import type { RepositoryScope } from './scope.js';

/** Who a data-port request comes from. */
export type Principal =
  | { kind: 'anonymous'; subject: 'anonymous' }
  /** Basic credentials checked against htpasswd on this request. */
  | { kind: 'user'; subject: string }
  /** One of our bearer tokens: what it grants is capped by its scopes. */
  | { kind: 'token'; subject: string; anonymous: boolean; access: RepositoryScope[] };

export const ANONYMOUS: Principal = { kind: 'anonymous', subject: 'anonymous' };
