import { loadFrontendConfig } from './config.js';

describe('write lag settings', () => {
  test('defaults: 32 MiB per miss, 128 MiB in all, wait for a store that keeps half the receive rate', () => {
    expect(loadFrontendConfig({})).toMatchObject({
      PULLTHROUGH_WRITE_LAG_BYTES: 33554432,
      PULLTHROUGH_WRITE_LAG_TOTAL_BYTES: 134217728,
      PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE: 0.5,
    });
  });

  test.each([
    ['0', 0],
    ['0.85', 0.85],
    ['1', 1],
  ])('PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE=%s is taken as %d', (value, share) => {
    expect(loadFrontendConfig({ PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE: value }).PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE).toBe(share);
  });

  test.each(['1.5', '-0.1', 'half'])('a bad PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE (%s) stops start with the field name', (value) => {
    expect(() => loadFrontendConfig({ PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE: value })).toThrow(/^invalid configuration:\n {2}PULLTHROUGH_WRITE_LAG_MIN_STORE_SHARE: /);
  });

  test('a total below one miss\'s lag names the total', () => {
    expect(() => loadFrontendConfig({ PULLTHROUGH_WRITE_LAG_BYTES: '1048576', PULLTHROUGH_WRITE_LAG_TOTAL_BYTES: '65536' })).toThrow(/^invalid configuration:\n {2}PULLTHROUGH_WRITE_LAG_TOTAL_BYTES: must be at least PULLTHROUGH_WRITE_LAG_BYTES/);
  });
});
