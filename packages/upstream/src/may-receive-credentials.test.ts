import { mayReceiveCredentials } from './may-receive-credentials.js';

describe('mayReceiveCredentials', () => {
  it.each([
    // registry, realm, insecure, expected
    ['registry-1.docker.io', 'https://auth.docker.io/token', false, true],
    ['ghcr.io', 'https://ghcr.io/token', false, true],
    ['myreg.azurecr.io', 'https://myreg.azurecr.io/oauth2/token', false, true],
    ['registry.example.com:5000', 'https://auth.example.com/token', false, true],
    ['registry-1.docker.io', 'https://auth.evil.io/token', false, false],
    ['registry-1.docker.io', 'https://docker.io.evil.com/token', false, false],
    ['registry-1.docker.io', 'https://evil-docker.io/token', false, false],
    ['registry-1.docker.io', 'http://auth.docker.io/token', false, false],
    ['registry-1.docker.io', 'http://auth.docker.io/token', true, false],
    ['registry.example.com', 'http://registry.example.com:5001/token', true, true],
    ['registry.example.com', 'http://registry.example.com/token', false, false],
    ['127.0.0.1:5000', 'http://127.0.0.1:5001/token', true, true],
    ['127.0.0.1:5000', 'https://127.0.0.1:5001/token', false, true],
    ['127.0.0.1:5000', 'https://127.0.0.2/token', false, false],
    ['10.0.0.1', 'https://0.1/token', false, false],
    ['localhost:5000', 'https://localhost/token', false, true],
    ['localhost:5000', 'https://evil.localhost/token', false, false],
    ['[::1]:5000', 'https://[::1]:5001/token', false, true],
    ['REGISTRY.Example.com', 'https://auth.example.COM./token', false, true],
    ['registry.example.com', 'ftp://registry.example.com/token', false, false],
    ['registry.example.com', 'not a url', false, false],
  ])('%s -> %s (insecure=%s): %s', (registry, realm, insecure, expected) => {
    expect(mayReceiveCredentials(registry, realm, insecure)).toBe(expected);
  });
});
