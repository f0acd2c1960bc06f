import { breakerOptionsFrom } from '@pullthrough/upstream';
import { loadFrontendConfig } from './config.js';

describe('breaker settings', () => {
  test('defaults, and the pool options they become', () => {
    expect(breakerOptionsFrom(loadFrontendConfig({}))).toEqual({
      errorThresholdPercentage: 50,
      volumeThreshold: 5,
      resetTimeoutMs: 30000,
      rollingCountTimeoutMs: 10000,
      maxHoldSeconds: 600,
    });
    const config = loadFrontendConfig({ PULLTHROUGH_BREAKER_VOLUME_THRESHOLD: '3', PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS: '2000' });
    expect(breakerOptionsFrom(config)).toMatchObject({ volumeThreshold: 3, resetTimeoutMs: 2000 });
  });

  test.each([
    ['PULLTHROUGH_BREAKER_ERROR_THRESHOLD_PERCENT', '101'],
    ['PULLTHROUGH_BREAKER_VOLUME_THRESHOLD', '0'],
    ['PULLTHROUGH_BREAKER_RESET_TIMEOUT_MS', 'soon'],
    ['PULLTHROUGH_BREAKER_ROLLING_WINDOW_MS', '-1'],
    ['PULLTHROUGH_BREAKER_MAX_HOLD_SECONDS', '1.5'],
  ])('a bad %s stops start with the field name', (field, value) => {
    expect(() => loadFrontendConfig({ [field]: value })).toThrow(new RegExp(`^invalid configuration:\\n  ${field}: `));
  });
});
