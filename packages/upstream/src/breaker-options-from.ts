import type { UpstreamBreakerOptions } from './upstream-breaker.js';

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
