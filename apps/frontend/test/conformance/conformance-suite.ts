import { ConformanceClient, describeReply, type Reply } from './conformance-client.js';
import type { ConformanceTarget, TargetCapabilities } from './conformance-target.js';

/** What every workflow's checks share: the running target and its client (set in beforeAll). */
export class Suite {
  private running?: { target: ConformanceTarget; client: ConformanceClient };

  constructor(readonly supports: TargetCapabilities) {}

  attach(target: ConformanceTarget): void {
    this.running = { target, client: new ConformanceClient(target) };
  }

  get client(): ConformanceClient {
    if (!this.running) throw new Error('the conformance target did not start');
    return this.running.client;
  }

  get target(): ConformanceTarget {
    if (!this.running) throw new Error('the conformance target did not start');
    return this.running.target;
  }

  /** The workflow's own repository under the target's namespace. */
  repository(workflow: string): string {
    return `${this.target.namespace}/${workflow}`;
  }

  /**
   * `test` when the target has the capability; otherwise the check is not registered for this
   * target (no skipped tests: CHECKS.md lists each target's n/a checks with the reason, and the
   * docker-registry file asserts that each declared deviation is real).
   */
  checkIf<K extends Exclude<keyof TargetCapabilities, 'reasons'>>(
    capability: K,
    wanted: TargetCapabilities[K] = true as TargetCapabilities[K],
  ): (name: string, fn: () => Promise<void>) => void {
    if (this.supports[capability] === wanted) return (name, fn) => test(name, fn);
    return () => undefined;
  }
}

/** Fail with the whole answer in the message when the status is not one of `statuses`. */
export function expectStatus(reply: Reply, ...statuses: number[]): void {
  if (!statuses.includes(reply.status)) {
    throw new Error(`expected HTTP ${statuses.join(' or ')}, got ${describeReply(reply)}`);
  }
}

/** A 2xx answer (the spec's word for setup steps that only need to succeed). */
export function expectSuccess(reply: Reply): void {
  if (reply.status < 200 || reply.status > 299) throw new Error(`expected a 2xx answer, got ${describeReply(reply)}`);
}

/** When the answer carries Docker-Content-Digest it must be this digest (the spec makes the header optional). */
export function expectDigestHeaderIfPresent(reply: Reply, digest: string): void {
  const header = reply.headers.get('docker-content-digest');
  if (header !== null) expect(header).toBe(digest);
}
