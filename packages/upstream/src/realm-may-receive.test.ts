import { realmMayReceive } from './may-receive-credentials.js';

describe('realmMayReceive: the registrable-domain rule plus realm hosts a credential set allows', () => {
  test.each([
    ['registry.example.com', 'https://auth.example.com/token', [], true],
    ['registry.example.com', 'https://auth.other.io/token', [], false],
    ['registry.example.com', 'https://auth.other.io/token', ['auth.other.io'], true],
    ['registry.example.com', 'https://AUTH.other.io./token', ['auth.other.io'], true],
    ['registry.example.com', 'http://auth.other.io/token', ['auth.other.io'], false],
    ['registry.example.com', 'https://evil.other.io/token', ['auth.other.io'], false],
  ])('%s with realm %s allowed %j: %s', (registry, realm, allowed, expected) => {
    expect(realmMayReceive(registry, new URL(realm), false, allowed)).toBe(expected);
  });
});
