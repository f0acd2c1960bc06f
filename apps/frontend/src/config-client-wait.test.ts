import { loadFrontendConfig } from './config.js';

describe('client wait settings', () => {
  test('default: a full client no other client stands in for is waited for while it kept half the receive rate', () => {
    expect(loadFrontendConfig({}).PULLTHROUGH_CLIENT_WAIT_MIN_SHARE).toBe(0.5);
  });

  test.each([
    ['0', 0],
    ['0.25', 0.25],
    ['1', 1],
  ])('PULLTHROUGH_CLIENT_WAIT_MIN_SHARE=%s is taken as %d', (value, share) => {
    expect(loadFrontendConfig({ PULLTHROUGH_CLIENT_WAIT_MIN_SHARE: value }).PULLTHROUGH_CLIENT_WAIT_MIN_SHARE).toBe(share);
  });

  test.each(['1.01', '-0.5', 'always'])('a bad PULLTHROUGH_CLIENT_WAIT_MIN_SHARE (%j) stops start with the field name', (value) => {
    expect(() => loadFrontendConfig({ PULLTHROUGH_CLIENT_WAIT_MIN_SHARE: value })).toThrow(/^invalid configuration:\n {2}PULLTHROUGH_CLIENT_WAIT_MIN_SHARE: /);
  });
});
