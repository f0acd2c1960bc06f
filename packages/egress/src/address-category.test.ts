import { classifyAddress, type AddressCategory } from './address-category.js';
import { normalizeHost, splitHostPort } from './normalize-host.js';

describe('classifyAddress', () => {
  it.each<[string, AddressCategory | undefined]>([
    // IPv4
    ['127.0.0.1', 'loopback'],
    ['127.255.1.2', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['169.254.169.254', 'link-local'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', undefined],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade-nat'],
    ['100.127.255.255', 'carrier-grade-nat'],
    ['100.128.0.1', undefined],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.0.170', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['8.8.8.8', undefined],
    ['93.184.215.14', undefined],
    // IPv4 number forms a URL accepts
    ['127.1', 'loopback'],
    ['0x7f.0.0.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['0xa9fea9fe', 'link-local'],
    // IPv6
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fec0::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001:2::1', 'benchmarking'],
    ['100::1', 'reserved'],
    ['::2:3:4:5:6', 'reserved'],
    ['4000::1', 'reserved'],
    ['2606:4700::1111', undefined],
    ['2a00:1450:4001::200e', undefined],
    // IPv4 embedded in IPv6: the IPv4 address decides
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a00:1', 'private'],
    ['::ffff:8.8.8.8', undefined],
    ['::ffff:0:7f00:1', 'loopback'], // IPv4-translated
    ['::127.0.0.1', 'loopback'], // IPv4-compatible
    ['::7f00:1', 'loopback'],
    ['::a9fe:a9fe', 'link-local'],
    ['64:ff9b::127.0.0.1', 'loopback'], // NAT64
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['64:ff9b::808:808', undefined],
    ['64:ff9b:1:7f00:0:100::', 'loopback'], // local-use NAT64, /48 layout
    ['64:ff9b:1::a00:1', 'private'], // local-use NAT64, /96 layout
    ['2002:7f00:1::', 'loopback'], // 6to4
    ['2002:a9fe:a9fe::1', 'link-local'],
    ['2002:808:808::1', undefined],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'loopback'], // Teredo client 127.0.0.1 (bits inverted)
  ])('%s -> %s', (address, category) => {
    expect(classifyAddress(address)).toBe(category);
  });

  it('throws on text that is not an address', () => {
    expect(() => classifyAddress('registry.example')).toThrow(TypeError);
    expect(() => classifyAddress('999.1.1.1')).toThrow(TypeError);
  });
});

describe('normalizeHost', () => {
  it.each([
    ['127.1', '127.0.0.1'],
    ['0x7f.0.0.1', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0177.0.0.01', '127.0.0.1'],
    ['Registry.Example.', 'registry.example'],
    ['[::FFFF:127.0.0.1]', '[::ffff:7f00:1]'],
    ['0x7g.0.0.1', undefined],
    ['256.1.1.1', undefined],
    ['a b', undefined],
    ['user@host', undefined],
    ['host:80', undefined],
  ])('%s -> %s', (host, normalized) => {
    expect(normalizeHost(host)).toBe(normalized);
  });

  it('splits host[:port] the way rules write them', () => {
    expect(splitHostPort('2130706433:5000')).toEqual({ host: '127.0.0.1', port: 5000 });
    expect(splitHostPort('[::ffff:7f00:1]:5000')).toEqual({ host: '[::ffff:7f00:1]', port: 5000 });
    expect(splitHostPort('docker.io')).toEqual({ host: 'docker.io' });
    expect(splitHostPort('docker.io:0')).toBeUndefined();
    expect(splitHostPort('::1')).toBeUndefined();
  });
});
