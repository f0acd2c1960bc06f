export * from './upstream-answer.js';
export * from './upstream-client.js';
export * from './upstream-client-pool.js';
export * from './upstream-breaker.js';
export { mayReceiveCredentials } from './may-receive-credentials.js';
export { parseRetryAfter } from './retry-after.js';
export type { UpstreamErrorDetail } from './upstream-errors.js';
export { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from './upstream-agent.js';
export * from './upstream-rate-limit.js';
