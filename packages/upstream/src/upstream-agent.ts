import { Agent } from 'undici';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;

export interface UpstreamAgentOptions {
  connectTimeoutMs?: number;
  /** No bytes for this long while waiting for headers or reading a body: the request fails. */
  idleTimeoutMs?: number;
}

/**
 * Keep-alive connection pools, one per origin (undici's Agent keeps a Pool per origin: the
 * registry, its token realm, its blob CDN). Redirects are never followed here: undici 7 only
 * follows them through the redirect interceptor, which we do not compose; UpstreamTransport does.
 */
export function createUpstreamAgent(options: UpstreamAgentOptions = {}): Agent {
  const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  return new Agent({
    connect: { timeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS },
    headersTimeout: idle,
    bodyTimeout: idle,
  });
}
