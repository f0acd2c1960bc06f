import { loadFrontendConfig } from './config.js';
import { parsePeerNetworks, peerUrlCheck } from './peer/peer-networks.js';
import { peerUrlOf } from './peer/peer-streaming.js';

describe('peer streaming settings', () => {
  test('off by default; on, the URL defaults to the bind address and port', () => {
    const off = loadFrontendConfig({});
    expect([off.PULLTHROUGH_PEER_PORT, off.PULLTHROUGH_PEER_HOST, off.PULLTHROUGH_PEER_URL]).toEqual([0, '127.0.0.1', undefined]);
    expect(peerUrlOf(loadFrontendConfig({ PULLTHROUGH_PEER_PORT: '5003' }))).toBe('http://127.0.0.1:5003');
    expect(peerUrlOf(loadFrontendConfig({ PULLTHROUGH_PEER_PORT: '5003', PULLTHROUGH_PEER_HOST: 'fd00::7' }))).toBe('http://[fd00::7]:5003');
    expect(peerUrlOf(loadFrontendConfig({ PULLTHROUGH_PEER_PORT: '5003', PULLTHROUGH_PEER_HOST: '0.0.0.0', PULLTHROUGH_PEER_URL: 'http://10.1.2.3:5003/' }))).toBe('http://10.1.2.3:5003');
    // A ConfigMap can only say "": unset.
    expect(loadFrontendConfig({ PULLTHROUGH_PEER_URL: '' }).PULLTHROUGH_PEER_URL).toBeUndefined();
  });

  test.each([
    [{ PULLTHROUGH_PEER_PORT: '5003', PULLTHROUGH_PEER_HOST: '0.0.0.0' }, 'PULLTHROUGH_PEER_URL', /wildcard/],
    [{ PULLTHROUGH_PEER_PORT: '5003', PULLTHROUGH_PEER_URL: 'http://peer.internal:5003' }, 'PULLTHROUGH_PEER_URL', /IP address/],
    [{ PULLTHROUGH_PEER_PORT: '5003', PULLTHROUGH_PEER_URL: 'https://10.0.0.1:5003' }, 'PULLTHROUGH_PEER_URL', /http:/],
    [{ PULLTHROUGH_PEER_PORT: '5003', PULLTHROUGH_PEER_URL: 'http://203.0.113.9:5003' }, 'PULLTHROUGH_PEER_URL', /outside PULLTHROUGH_PEER_ALLOWED_NETWORKS/],
    [{ PULLTHROUGH_PEER_URL: 'http://10.0.0.1:5003' }, 'PULLTHROUGH_PEER_URL', /needs PULLTHROUGH_PEER_PORT/],
    [{ PULLTHROUGH_PEER_PORT: '5000' }, 'PULLTHROUGH_PEER_PORT', /differ/],
    [{ PULLTHROUGH_PEER_ALLOWED_NETWORKS: '10.0.0.0/8,10.0.0.0/33' }, 'PULLTHROUGH_PEER_ALLOWED_NETWORKS', /10\.0\.0\.0\/33/],
    [{ PULLTHROUGH_PEER_PORT: '70000' }, 'PULLTHROUGH_PEER_PORT', /./],
  ])('%j stops start naming %s', (env, field, message) => {
    let thrown: Error | undefined;
    try {
      loadFrontendConfig(env);
    } catch (err) {
      thrown = err as Error;
    }
    expect(thrown?.message).toMatch(new RegExp(`^invalid configuration:\\n  ${field}: `));
    expect(thrown?.message).toMatch(message);
  });

  test('a peer URL from a lease is contacted only when its host is an address inside the allowed blocks', () => {
    const allowed = peerUrlCheck(parsePeerNetworks(loadFrontendConfig({}).PULLTHROUGH_PEER_ALLOWED_NETWORKS).networks);
    const verdicts = ['http://10.40.3.7:5003', 'http://172.31.255.1:5003', 'http://192.168.1.1:1', 'http://[fd12::1]:5003', 'http://127.0.0.1:5003', 'http://[::1]:5003', 'http://172.32.0.1:5003', 'http://169.254.169.254/', 'http://8.8.8.8:5003', 'http://[2001:db8::1]:5003', 'http://localhost:5003', 'http://10.0.0.1.nip.io:5003', 'http://0x0a000001:5003'].map((u) => [u, allowed(new URL(u))]);
    expect(Object.fromEntries(verdicts)).toEqual({
      'http://10.40.3.7:5003': true,
      'http://172.31.255.1:5003': true,
      'http://192.168.1.1:1': true,
      'http://[fd12::1]:5003': true,
      'http://127.0.0.1:5003': true,
      'http://[::1]:5003': true,
      'http://172.32.0.1:5003': false,
      'http://169.254.169.254/': false,
      'http://8.8.8.8:5003': false,
      'http://[2001:db8::1]:5003': false,
      'http://localhost:5003': false,
      'http://10.0.0.1.nip.io:5003': false,
      // The URL parser makes it 10.0.0.1: an address, inside 10/8.
      'http://0x0a000001:5003': true,
    });
  });
});
