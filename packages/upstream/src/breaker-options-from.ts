import type { EgressPolicy } from '@pullthrough/egress';
import type { UpstreamBreakerOptions } from './upstream-breaker.js';
import { UpstreamClientPool } from './upstream-client-pool.js';

/** The breaker settings both apps read from their config (same variable names in each). */
export interface BreakerSettings {
  PULLTHROUGH_BREAKER_ERROR_THRESHOLD_PERCENT: number;
  PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: number;
  PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS: number;
  PULLTHROUGH_BREAKER_ROLLING_WINDOW_MS: number;
  PULLTHROUGH_BREAKER_MAX_HOLD_SECONDS: number;
}

export function breakerOptionsFrom(config: BreakerSettings): UpstreamBreakerOptions {
  return {
    errorThresholdPercentage: config.PULLTHROUGH_BREAKER_ERROR_THRESHOLD_PERCENT,
    volumeThreshold: config.PULLTHROUGH_BREAKER_VOLUME_THRESHOLD,
    resetTimeoutMs: config.PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS,
    rollingCountTimeoutMs: config.PULLTHROUGH_BREAKER_ROLLING_WINDOW_MS,
    maxHoldSeconds: config.PULLTHROUGH_BREAKER_MAX_HOLD_SECONDS,
  };
}

/** The upstream settings both apps read from their config (same variable names in each). */
export interface UpstreamSettings extends BreakerSettings {
  PULLTHROUGH_INSECURE_UPSTREAMS: string[];
  PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS: number;
  PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS: number;
  PULLTHROUGH_UPSTREAM_POOLED_READS: boolean;
}

/** The app's upstream client pool from its config: every connection under `egress`, our requests marked with `userAgent`. */
export function upstreamClientPoolFrom(config: UpstreamSettings, egress: EgressPolicy, userAgent?: string): UpstreamClientPool {
  return new UpstreamClientPool({
    egress,
    ...(userAgent ? { userAgent } : {}),
    insecureRegistries: config.PULLTHROUGH_INSECURE_UPSTREAMS,
    connectTimeoutMs: config.PULLTHROUGH_UPSTREAM_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: config.PULLTHROUGH_UPSTREAM_IDLE_TIMEOUT_MS,
    pooledBlobReads: config.PULLTHROUGH_UPSTREAM_POOLED_READS,
    breaker: breakerOptionsFrom(config),
  });
}
