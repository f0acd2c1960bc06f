import { createEgressAgent, EgressPolicy, PooledHttpClient } from '@pullthrough/egress';
import type { Agent } from 'undici';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

export interface UpstreamAgentOptions {
  connectTimeoutMs?: number;
  /** No bytes for this long while waiting for headers or reading a body: the request fails. */
  idleTimeoutMs?: number;
  /**
   * Checked on every connection (registry, token realm, each redirect hop) at connect time.
   * Default: no exceptions (loopback, private, link-local... refused): pass the operator's policy.
   */
  egress?: EgressPolicy;
}

/**
 * Keep-alive connection pools, one per origin (undici's Agent keeps a Pool per origin: the
 * registry, its token realm, its blob CDN), every connection checked by the egress policy.
 * Redirects are never followed here: undici 7 only follows them through the redirect
 * interceptor, which we do not compose; UpstreamTransport does.
 */
export function createUpstreamAgent(options: UpstreamAgentOptions = {}): Agent {
  const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  return createEgressAgent(options.egress ?? new EgressPolicy(), {
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    headersTimeoutMs: idle,
    bodyTimeoutMs: idle,
  });
}

/**
 * The blob reader beside the agent: PooledHttpClient with the same egress policy, connect timeout and
 * idle timeout (no head, or no body bytes while the reader wants them, for that long: the read fails).
 */
export function createBlobReader(egress: EgressPolicy, options: Omit<UpstreamAgentOptions, 'egress'> = {}): PooledHttpClient {
  const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  return new PooledHttpClient(egress, {
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    headersTimeoutMs: idle,
    bodyTimeoutMs: idle,
  });
}
