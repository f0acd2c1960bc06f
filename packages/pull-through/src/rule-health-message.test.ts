import { sanitizeHealthMessage } from './rule-health-message.js';

describe('sanitizeHealthMessage', () => {
  test.each([
    ['upstream registry.example is unavailable: upstream answered 503', 'upstream registry.example is unavailable: upstream answered 503'],
    [
      'credential set "hub-login" authCredentials[0].passwordSecretIdentifier: the Key Vault secret cannot be read: the vault forbids access (403)',
      'credential set "hub-login" authCredentials[0].passwordSecretIdentifier: the Key Vault secret cannot be read: the vault forbids access (403)',
    ],
    ['redirect to https://user:hunter2@blob.example/x?sig=abc123&se=2026 failed', 'redirect to https://blob.example/x failed'],
    ['token realm https://auth.example/token#frag answered 500', 'token realm https://auth.example/token answered 500'],
    ['sent Bearer eyJhbGciOi.eyJzdWIi.c2ln and Basic c29tZW9uZTpodW50ZXIy', 'sent Bearer [redacted] and Basic [redacted]'],
    ['upstream asks for Bearer authentication', 'upstream asks for Bearer authentication'],
    ['form password=hunter2&token=abc', 'form password=[redacted]&token=[redacted]'],
    ['line\nbreak\u0000and\ttab', 'line break and tab'],
  ])('%s', (message, expected) => {
    expect(sanitizeHealthMessage(message)).toBe(expected);
  });

  test('cut at 500 characters', () => {
    expect(sanitizeHealthMessage('x'.repeat(2000))).toHaveLength(500);
  });
});
