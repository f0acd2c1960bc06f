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

describe('blob prefix setting', () => {
  test('default: a running miss keeps its first 2 MiB for clients that arrive after it started, within a 4 MiB client buffer', () => {
    const config = loadFrontendConfig({});
    expect(config.PULLTHROUGH_BLOB_PREFIX_BYTES).toBe(2 * 1024 * 1024);
    expect(config.PULLTHROUGH_CLIENT_BUFFER_BYTES).toBe(4 * 1024 * 1024);
  });

  test('0 keeps none; any other whole number of bytes is taken', () => {
    expect(loadFrontendConfig({ PULLTHROUGH_BLOB_PREFIX_BYTES: '0' }).PULLTHROUGH_BLOB_PREFIX_BYTES).toBe(0);
    expect(loadFrontendConfig({ PULLTHROUGH_BLOB_PREFIX_BYTES: '8388608' }).PULLTHROUGH_BLOB_PREFIX_BYTES).toBe(8388608);
  });

  test.each(['-1', '1.5', 'all'])('a bad PULLTHROUGH_BLOB_PREFIX_BYTES (%j) stops start with the field name', (value) => {
    expect(() => loadFrontendConfig({ PULLTHROUGH_BLOB_PREFIX_BYTES: value })).toThrow(/^invalid configuration:\n {2}PULLTHROUGH_BLOB_PREFIX_BYTES: /);
  });
});

describe('layer read-ahead setting', () => {
  test('default: 3 layers ahead; 0 turns it off; up to 16', () => {
    expect(loadFrontendConfig({}).PULLTHROUGH_BLOB_READ_AHEAD_LAYERS).toBe(3);
    expect(loadFrontendConfig({ PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '0' }).PULLTHROUGH_BLOB_READ_AHEAD_LAYERS).toBe(0);
    expect(loadFrontendConfig({ PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: '16' }).PULLTHROUGH_BLOB_READ_AHEAD_LAYERS).toBe(16);
  });

  test.each(['-1', '2.5', '17', 'many'])('a bad PULLTHROUGH_BLOB_READ_AHEAD_LAYERS (%j) stops start with the field name', (value) => {
    expect(() => loadFrontendConfig({ PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: value })).toThrow(/^invalid configuration:\n {2}PULLTHROUGH_BLOB_READ_AHEAD_LAYERS: /);
  });
});

describe('config prefetch setting', () => {
  test('default on; "false" turns it off; anything else stops start with the field name', () => {
    expect(loadFrontendConfig({}).PULLTHROUGH_PREFETCH_CONFIG).toBe(true);
    expect(loadFrontendConfig({ PULLTHROUGH_PREFETCH_CONFIG: 'false' }).PULLTHROUGH_PREFETCH_CONFIG).toBe(false);
    expect(() => loadFrontendConfig({ PULLTHROUGH_PREFETCH_CONFIG: 'no' })).toThrow(/^invalid configuration:\n {2}PULLTHROUGH_PREFETCH_CONFIG: /);
  });
});
