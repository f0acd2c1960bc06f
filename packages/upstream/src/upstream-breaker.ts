import CircuitBreaker from 'opossum';
import { UpstreamThrottledError, UpstreamUnavailableError } from '@pullthrough/oci';
import type { SharedBreakerBoard, SharedHold } from './shared-breaker-board.js';
import { upstreamUnavailable } from './upstream-errors.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface UpstreamBreakerOptions {
  /** Failure percentage in the rolling window that opens the breaker. Default 50. */
  errorThresholdPercentage?: number;
  /** Calls in the rolling window before the percentage counts. Default 5. */
  volumeThreshold?: number;
  /** How long the breaker stays open before one trial call (half-open). Default 30000. */
  resetTimeoutMs?: number;
  /** Rolling statistics window. Default 10000. */
  rollingCountTimeoutMs?: number;
  /** Per-call timeout; default false (the client has its own connect/idle timeouts). */
  timeoutMs?: number | false;
  /** Upper bound for holdOpen, so one absurd Retry-After cannot silence an upstream for a day. Default 600. */
  maxHoldSeconds?: number;
}

export interface UpstreamBreakerStats {
  upstream: string;
  state: BreakerState;
  /** Rolling-window counts. `rejects` includes calls refused while held open. */
  fires: number;
  successes: number;
  failures: number;
  rejects: number;
  timeouts: number;
  /** While open: seconds until a trial call is let through. */
  retryAfterSeconds?: number;
  /** Why the last failed call failed. */
  lastFailure?: string;
  /** While open: when a trial call is let through (ISO). */
  openUntil?: string;
  /** Since start (not rolling): calls let through, failures (mid-stream ones included), calls refused. */
  totals: { requests: number; failures: number; rejects: number };
}

type Action = () => Promise<unknown>;

/**
 * Per-upstream circuit breaker over opossum 9. Only rejections count as failures: the client
 * resolves 404/401/403 as answers, so they never trip it (no errorFilter, STYLE 9). On top of
 * opossum's statistics, `holdOpen` keeps it open for a Retry-After; when the hold ends one trial
 * call goes through (half-open) and the rest are refused until it settles.
 *
 * With a shared board (`shareThrough`), every open and hold is announced to the other replicas, and
 * their holds refuse calls here too; when a shared hold ends, the one replica that wins the board's
 * claim makes the trial call and its success closes the upstream everywhere.
 */
export class UpstreamBreaker {
  private readonly circuit: CircuitBreaker<[Action], unknown>;
  private readonly resetTimeoutMs: number;
  private readonly maxHoldSeconds: number;
  private openedAt = 0;
  private heldUntil = 0;
  private holdTrial: 'none' | 'pending' | 'running' = 'none';
  private heldRejects = 0;
  /** The hold came from a 429 (throttling) rather than a 503: refusals say TOOMANYREQUESTS. */
  private heldForThrottling = false;
  /** Why the last failed call failed (no secret: our own error messages). */
  private lastFailure: string | undefined;
  private readonly totals = { successes: 0, failures: 0, rejects: 0, recorded: 0 };
  private board: SharedBreakerBoard | undefined;
  /** A trial call after a shared hold is being claimed or running here. */
  private sharedTrial = false;
  /** Closing because another replica said so: not announced back. */
  private closingFromBoard = false;

  constructor(
    readonly upstream: string,
    options: UpstreamBreakerOptions = {},
  ) {
    this.resetTimeoutMs = options.resetTimeoutMs ?? 30_000;
    this.maxHoldSeconds = options.maxHoldSeconds ?? 600;
    this.circuit = new CircuitBreaker((action: Action) => action(), {
      name: upstream,
      errorThresholdPercentage: options.errorThresholdPercentage ?? 50,
      volumeThreshold: options.volumeThreshold ?? 5,
      resetTimeout: this.resetTimeoutMs,
      rollingCountTimeout: options.rollingCountTimeoutMs ?? 10_000,
      timeout: options.timeoutMs ?? false,
    });
    this.circuit.on('open', () => {
      this.openedAt = Date.now();
      this.board?.announceOpen(this.upstream, { until: this.openedAt + this.resetTimeoutMs, throttled: false });
    });
    this.circuit.on('close', () => {
      if (!this.closingFromBoard) this.board?.announceClosed(this.upstream);
    });
    this.circuit.on('success', () => void this.totals.successes++);
    this.circuit.on('failure', (err: unknown) => {
      this.totals.failures++;
      if (err instanceof Error && !CircuitBreaker.isOurError(err)) this.lastFailure = failureReason(err);
    });
    this.circuit.on('reject', () => void this.totals.rejects++);
  }

  /**
   * A call whose outcome is known only later (a blob body streamed after the headers): `fn` gives
   * the value at once and a promise that settles when the body has ended. The caller gets the value
   * as soon as it is there; the breaker counts the call when `settled` does, so a reset, stall or
   * truncation mid-body is one failure (not a success followed by a failure).
   */
  fireStreamed<T>(fn: () => Promise<{ value: T; settled: Promise<void> }>): Promise<T> {
    let deliver!: (value: T) => void;
    let refuse!: (err: unknown) => void;
    const early = new Promise<T>((resolve, reject) => {
      deliver = resolve;
      refuse = reject;
    });
    // A half-open probe settles at the headers: a long body must not keep every other call refused.
    // Its body can still fail; that failure is then recorded on its own.
    const probe = this.state() === 'half-open';
    this.fire(async () => {
      const { value, settled } = await fn();
      deliver(value);
      if (probe) settled.catch((err: unknown) => this.recordFailure(err));
      else await settled;
    }).catch((err: unknown) => refuse(err)); // after delivery this is a no-op: the body reports its own error
    return early;
  }

  /** Count a failure that happened after its call was counted (a probe's body); nothing while open. */
  private recordFailure(err: unknown): void {
    if (this.circuit.opened) return;
    this.totals.recorded++;
    const error = err instanceof Error ? err : new Error(String(err));
    this.circuit.fire(() => Promise.reject(error)).catch(() => undefined);
  }

  async fire<T>(fn: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const shared = this.sharedHold();
    if (shared !== undefined && now < shared.until) throw this.refuse(shared.until, shared.throttled);
    if (now < this.heldUntil || this.holdTrial === 'running') throw this.refuse(this.heldUntil);
    // A shared hold is over: one replica (the claim's winner) makes the trial call, the rest refuse.
    const sharedProbe = shared !== undefined;
    if (sharedProbe) {
      if (this.sharedTrial || this.circuit.opened) throw this.refuse(this.halfOpenAt());
      this.sharedTrial = true;
      if (!(await this.board!.claimProbe(this.upstream, shared.until))) {
        this.sharedTrial = false;
        throw this.refuse(0);
      }
    }
    const trial = this.holdTrial === 'pending';
    if (trial) this.holdTrial = 'running';
    try {
      const value = (await this.circuit.fire(fn)) as T;
      if (sharedProbe) this.board!.announceClosed(this.upstream);
      return value;
    } catch (err) {
      const heldBefore = this.heldUntil;
      const translated = this.translate(err);
      // A failed trial after a hold reopens for resetTimeoutMs, unless the error set a new hold.
      if (trial && this.holdTrial === 'running' && !isOpossumError(err)) this.circuit.open();
      // A failed shared trial holds every replica for another reset window, unless the error set (and
      // announced) a new hold.
      else if (sharedProbe && this.heldUntil === heldBefore && !isOpossumError(err)) {
        this.board!.announceOpen(this.upstream, { until: Date.now() + this.resetTimeoutMs, throttled: false });
      }
      throw translated;
    } finally {
      if (trial && this.holdTrial === 'running') this.holdTrial = 'none';
      if (sharedProbe) this.sharedTrial = false;
    }
  }

  /** Share this breaker's opens and holds with other replicas through `board`, and honour theirs. */
  shareThrough(board: SharedBreakerBoard): void {
    this.board = board;
  }

  /** Another replica's trial call succeeded: close here too (counts reset, local holds dropped). */
  closeFromBoard(): void {
    this.heldUntil = 0;
    this.holdTrial = 'none';
    if (!this.circuit.opened && !this.circuit.halfOpen) return;
    this.closingFromBoard = true;
    try {
      this.circuit.close();
    } finally {
      this.closingFromBoard = false;
    }
  }

  private sharedHold(): SharedHold | undefined {
    return this.board?.hold(this.upstream);
  }

  /** Count a refusal while open and build its error (`until` 0: try again in a second). */
  private refuse(until: number, throttled = this.heldForThrottling && Date.now() < this.heldUntil): UpstreamUnavailableError | UpstreamThrottledError {
    this.heldRejects++;
    this.totals.rejects++;
    return this.openError(Math.max(1, Math.ceil((until - Date.now()) / 1000)), throttled);
  }

  /** Refuse every call for at least `seconds` (a 429/503 Retry-After), then allow one trial call. */
  holdOpen(seconds: number, throttled = false): void {
    if (!(seconds > 0)) return;
    const until = Date.now() + Math.min(seconds, this.maxHoldSeconds) * 1000;
    if (until > this.heldUntil) {
      this.heldUntil = until;
      this.heldForThrottling = throttled;
    }
    this.holdTrial = 'pending';
    this.board?.announceOpen(this.upstream, { until: this.heldUntil, throttled: this.heldForThrottling });
  }

  state(): BreakerState {
    const shared = this.sharedHold();
    if (Date.now() < this.heldUntil || this.circuit.opened || (shared !== undefined && Date.now() < shared.until)) return 'open';
    return this.holdTrial !== 'none' || this.circuit.halfOpen || shared !== undefined ? 'half-open' : 'closed';
  }

  stats(): UpstreamBreakerStats {
    const s = this.circuit.stats;
    const stats: UpstreamBreakerStats = {
      upstream: this.upstream,
      state: this.state(),
      fires: s.fires,
      successes: s.successes,
      failures: s.failures,
      rejects: s.rejects + this.heldRejects,
      timeouts: s.timeouts,
      ...(this.lastFailure !== undefined ? { lastFailure: this.lastFailure } : {}),
      totals: {
        requests: this.totals.successes + this.totals.failures - this.totals.recorded,
        failures: this.totals.failures,
        rejects: this.totals.rejects,
      },
    };
    if (stats.state === 'open') {
      stats.retryAfterSeconds = this.retryAfterSeconds();
      stats.openUntil = new Date(this.halfOpenAt()).toISOString();
    }
    return stats;
  }

  /** Stop opossum's timers; later calls reject. */
  shutdown(): void {
    this.circuit.shutdown();
  }

  private halfOpenAt(): number {
    return Math.max(this.heldUntil, this.circuit.opened ? this.openedAt + this.resetTimeoutMs : 0, this.sharedHold()?.until ?? 0);
  }

  private retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.halfOpenAt() - Date.now()) / 1000));
  }

  private translate(err: unknown): unknown {
    const code = (err as { code?: unknown } | null)?.code;
    if (isOpossumError(err)) {
      if (code === 'EOPENBREAKER') return this.openError(this.retryAfterSeconds(), this.throttledNow());
      const reason = code === 'ETIMEDOUT' ? 'call timed out' : code === 'ESHUTDOWN' ? 'breaker shut down' : 'breaker refused';
      return upstreamUnavailable(this.upstream, reason, { cause: err });
    }
    if ((err instanceof UpstreamThrottledError || err instanceof UpstreamUnavailableError) && err.retryAfterSeconds !== undefined) {
      this.holdOpen(err.retryAfterSeconds, err instanceof UpstreamThrottledError);
    }
    return err;
  }

  /** Refusal while open: TOOMANYREQUESTS while held for a 429's Retry-After, UNAVAILABLE otherwise. */
  private throttledNow(): boolean {
    const shared = this.sharedHold();
    return (this.heldForThrottling && Date.now() < this.heldUntil) || (shared !== undefined && shared.throttled && Date.now() < shared.until);
  }

  private openError(retryAfterSeconds: number, throttled: boolean): UpstreamUnavailableError | UpstreamThrottledError {
    const detail = {
      upstream: this.upstream,
      reason: throttled ? 'circuit breaker open: upstream asked us to wait (429 Retry-After)' : 'circuit breaker open',
      ...(this.lastFailure !== undefined ? { lastFailure: this.lastFailure } : {}),
    };
    const message = `circuit breaker for upstream ${this.upstream} is open`;
    return throttled ? new UpstreamThrottledError(message, { detail, retryAfterSeconds }) : new UpstreamUnavailableError(message, { detail, retryAfterSeconds });
  }
}

function failureReason(err: Error): string {
  const reason = (err as { detail?: { reason?: unknown } }).detail?.reason;
  return (typeof reason === 'string' ? reason : err.message).slice(0, 200);
}

function isOpossumError(err: unknown): boolean {
  return err instanceof Error && CircuitBreaker.isOurError(err);
}
