import { GateFullError } from './concurrency-gate.js';
import type { FailedLoginLimiter } from './failed-login-limiter.js';
import type { HtpasswdFile } from './htpasswd.js';

/** How a password login ended. `throttled`: refused before any password was checked. */
export type PasswordLoginOutcome =
  | { kind: 'accepted'; user: string }
  | { kind: 'refused' }
  | { kind: 'throttled'; reason: 'too-many-failures' | 'checks-busy'; retryAfterSeconds: number };

/**
 * Every password login (Basic on the data port, the token endpoint's Basic and password grant)
 * goes through here: a client (address) over its failed-login limit is refused before bcrypt
 * runs; a wrong user name or password counts against it; too many checks waiting at once are
 * refused at once (retry in a second) rather than queued without end.
 */
export class PasswordLogin {
  constructor(
    readonly users: HtpasswdFile,
    private readonly limiter: FailedLoginLimiter | undefined,
  ) {}

  async check(client: string, user: string, password: string): Promise<PasswordLoginOutcome> {
    const wait = this.limiter?.retryAfterSeconds(client);
    if (wait !== undefined) return { kind: 'throttled', reason: 'too-many-failures', retryAfterSeconds: wait };
    let ok: boolean;
    try {
      ok = user !== '' && (await this.users.verify(user, password));
    } catch (err) {
      if (err instanceof GateFullError) return { kind: 'throttled', reason: 'checks-busy', retryAfterSeconds: 1 };
      throw err;
    }
    if (ok) return { kind: 'accepted', user };
    this.limiter?.recordFailure(client);
    return { kind: 'refused' };
  }
}
