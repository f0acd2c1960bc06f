/** ACR's credential set health: Healthy until a lookup or login with the set fails. */
export interface CredentialHealth {
  status: 'Healthy' | 'Unhealthy';
  /** Stable: `credential-lookup` (secrets unreadable) or `upstream-auth` (the upstream refused them). */
  errorCode?: string;
  /** Holds no secret. */
  errorMessage?: string;
  /** When this status was last observed. */
  checkedAt?: string;
}

/** Latest known health per credential set, in memory (fed by pull outcomes and verify checks). */
export class CredentialHealthBook {
  private readonly sets = new Map<string, CredentialHealth>();

  constructor(private readonly now: () => number = Date.now) {}

  get(name: string): CredentialHealth {
    return this.sets.get(name) ?? { status: 'Healthy' };
  }

  healthy(name: string): void {
    this.sets.set(name, { status: 'Healthy', checkedAt: new Date(this.now()).toISOString() });
  }

  unhealthy(name: string, errorCode: string, errorMessage: string): void {
    this.sets.set(name, { status: 'Unhealthy', errorCode, errorMessage: errorMessage.slice(0, 500), checkedAt: new Date(this.now()).toISOString() });
  }

  forget(name: string): void {
    this.sets.delete(name);
  }
}
