import { loadFrontendConfig } from './config.js';

describe('blob lease settings', () => {
  test('the claim timeout defaults to 250 ms and takes a value', () => {
    expect(loadFrontendConfig({}).PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS).toBe(250);
    expect(loadFrontendConfig({ PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS: '2000' }).PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS).toBe(2000);
  });

  test.each(['0', '10001', '1.5', 'soon'])('a claim timeout of %s stops start with the field name', (value) => {
    expect(() => loadFrontendConfig({ PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS: value })).toThrow(/^invalid configuration:\n {2}PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS: /);
  });
});
