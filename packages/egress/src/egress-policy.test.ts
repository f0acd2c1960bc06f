import { parseAllowEntry, parseAllowList } from './allow-list.js';
import { EgressPolicy } from './egress-policy.js';

describe('allow-list entries', () => {
  it.each([
    ['registry.internal', { kind: 'host', host: 'registry.internal' }],
    ['Registry.Internal:5000', { kind: 'host', host: 'registry.internal', port: 5000 }],
    ['127.0.0.1', { kind: 'net', net: { bits: 32 } }],
    ['127.0.0.1:5000', { kind: 'net', net: { bits: 32 }, port: 5000 }],
    ['127.1', { kind: 'net', net: { bits: 32 } }],
    ['10.0.0.0/8', { kind: 'net', net: { bits: 8 } }],
    ['10.0.0.0/8:443', { kind: 'net', net: { bits: 8 }, port: 443 }],
    ['fd00::/8', { kind: 'net', net: { bits: 8 } }],
    ['::1', { kind: 'net', net: { bits: 128 } }],
    ['[fd00::1]:5000', { kind: 'net', net: { bits: 128 }, port: 5000 }],
    ['[fd00::/16]:5000', { kind: 'net', net: { bits: 16 }, port: 5000 }],
  ])('%s', (text, entry) => {
    expect(parseAllowEntry(text)).toMatchObject(entry);
  });

  it.each(['10.0.0.0/33', 'fd00::/129', 'host:0', 'host:99999', '[fd00::1', 'bad host', '1.2.3.4/x', 'a_b$c'])('refuses %s', (text) => {
    expect(typeof parseAllowEntry(text)).toBe('string');
  });

  it('a list names every bad entry', () => {
    expect(() => parseAllowList('127.0.0.1, 10.0.0.0/99, ok.example, x:0')).toThrow(/10\.0\.0\.0\/99.*x:0/);
    expect(parseAllowList(' 127.0.0.1 ,, ok.example ')).toHaveLength(2);
  });
});

describe('EgressPolicy.decide', () => {
  const policy = new EgressPolicy({
    allow: '127.0.0.1:5100, 10.0.0.0/8, registry.internal, fd00::/8, [fd00::1]:5000, 192.168.1.10:443',
  });
  it.each<[string, string, string, number, boolean | string]>([
    ['public address', 'example.com', '93.184.215.14', 443, true],
    ['public IPv6', 'example.com', '2606:4700::1111', 443, true],
    ['loopback not listed', '127.0.0.1', '127.0.0.1', 80, 'loopback'],
    ['loopback on the listed port', '127.0.0.1', '127.0.0.1', 5100, true],
    ['loopback on another port', '127.0.0.1', '127.0.0.1', 5101, 'loopback'],
    ['IPv4-mapped form of a listed address', '::ffff:7f00:1', '::ffff:7f00:1', 5100, true],
    ['NAT64 form is not the listed host', '64:ff9b::7f00:1', '64:ff9b::7f00:1', 5100, 'loopback'],
    ['address in a listed CIDR', '10.1.2.3', '10.1.2.3', 5000, true],
    ['metadata endpoint', '169.254.169.254', '169.254.169.254', 80, 'link-local'],
    ['a listed name may resolve to a private address', 'registry.internal', '172.20.0.5', 443, true],
    ['an unlisted name may not', 'other.internal', '172.20.0.5', 443, 'private'],
    ['IPv6 CIDR', 'fd00::5', 'fd00::5', 443, true],
    ['IPv6 address:port listed', 'fd00::1', 'fd00::1', 5000, true],
    ['IPv6 unique local outside the block', 'fc00::5', 'fc00::5', 443, 'private'],
    ['host:port entry, right port', '192.168.1.10', '192.168.1.10', 443, true],
    ['host:port entry, wrong port', '192.168.1.10', '192.168.1.10', 80, 'private'],
    ['CGNAT', '100.64.1.1', '100.64.1.1', 443, 'carrier-grade-nat'],
    ['not an address', 'x', 'nope', 443, 'invalid'],
  ])('%s', (_what, host, address, port, expected) => {
    const decision = policy.decide(host, address, port);
    if (expected === true) expect(decision).toEqual({ allowed: true });
    else expect(decision).toMatchObject({ allowed: false, refusal: expected });
  });

  it("refuses this cache's own listeners even when the allow-list covers them", () => {
    const own = new EgressPolicy({ allow: '127.0.0.1' });
    own.self.add('127.0.0.1', 5000);
    expect(own.decide('127.0.0.1', '127.0.0.1', 5000)).toMatchObject({ allowed: false, refusal: 'self' });
    expect(own.decide('::ffff:127.0.0.1', '::ffff:7f00:1', 5000)).toMatchObject({ allowed: false, refusal: 'self' });
    expect(own.decide('0.0.0.0', '0.0.0.0', 5000)).toMatchObject({ allowed: false, refusal: 'self' });
    expect(own.decide('127.0.0.1', '127.0.0.1', 5001)).toEqual({ allowed: true });
  });

  it('a listener on 0.0.0.0 is reached on loopback and on every local address', () => {
    const own = new EgressPolicy({ allow: '127.0.0.0/8, 10.0.0.0/8' });
    own.self.add('0.0.0.0', 5000);
    own.self.setLocalAddresses(['10.1.1.1']);
    expect(own.decide('127.0.0.2', '127.0.0.2', 5000)).toMatchObject({ refusal: 'self' });
    expect(own.decide('10.1.1.1', '10.1.1.1', 5000)).toMatchObject({ refusal: 'self' });
    expect(own.decide('10.1.1.2', '10.1.1.2', 5000)).toEqual({ allowed: true });
  });

  it('save-time literal check normalizes numeric hosts and leaves names for connect time', () => {
    const strict = new EgressPolicy();
    expect(strict.checkHostLiteral('2130706433:5000', 443)).toMatchObject({ allowed: false, refusal: 'loopback' });
    expect(strict.checkHostLiteral('0x7f.0.0.1', 443)).toMatchObject({ allowed: false, refusal: 'loopback' });
    expect(strict.checkHostLiteral('127.1', 443)).toMatchObject({ allowed: false, refusal: 'loopback', reason: expect.stringContaining('127.0.0.1:443') });
    expect(strict.checkHostLiteral('[::ffff:7f00:1]:5000', 443)).toMatchObject({ allowed: false, refusal: 'loopback' });
    expect(strict.checkHostLiteral('169.254.169.254', 80)).toMatchObject({ allowed: false, refusal: 'link-local' });
    expect(strict.checkHostLiteral('0x7g.0.0.1', 443)).toMatchObject({ allowed: false, refusal: 'invalid' });
    expect(strict.checkHostLiteral('8.8.8.8', 443)).toEqual({ allowed: true });
    expect(strict.checkHostLiteral('registry.internal:5000', 443)).toBeUndefined();
    expect(new EgressPolicy({ allow: '127.0.0.1' }).checkHostLiteral('127.1:5000', 443)).toEqual({ allowed: true });
  });

  it('checkUrl resolves names and refuses when any address is refused', async () => {
    const answers: Record<string, string[]> = { 'hooks.example': ['93.184.215.14'], 'sneaky.example': ['93.184.215.14', '10.1.2.3'], 'nowhere.example': [] };
    const p = new EgressPolicy({ resolve: async (h) => answers[h] ?? Promise.reject(new Error('ENOTFOUND')) });
    expect(await p.checkUrl(new URL('https://hooks.example/in'))).toEqual({ allowed: true });
    expect(await p.checkUrl(new URL('https://sneaky.example/in'))).toMatchObject({ allowed: false, refusal: 'private' });
    expect(await p.checkUrl(new URL('https://nowhere.example/in'))).toMatchObject({ allowed: false, refusal: 'invalid' });
    expect(await p.checkUrl(new URL('https://unknown.example/in'))).toMatchObject({ allowed: false, refusal: 'invalid' });
    expect(await p.checkUrl(new URL('http://[::ffff:127.0.0.1]:8080/'))).toMatchObject({ allowed: false, refusal: 'loopback' });
    expect(await p.checkUrl(new URL('ftp://hooks.example/'))).toMatchObject({ allowed: false, refusal: 'scheme' });
  });
});
