import { loadHydratorConfig } from './config.js';

test('the blob lease claim timeout defaults to 250 ms, takes a value, and a bad one stops start with the field name', () => {
  expect(loadHydratorConfig({}).PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS).toBe(250);
  expect(loadHydratorConfig({ PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS: '500' }).PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS).toBe(500);
  expect(() => loadHydratorConfig({ PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS: '0' })).toThrow(/PULLTHROUGH_BLOB_LEASE_CLAIM_TIMEOUT_MS/);
});
