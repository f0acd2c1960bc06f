import { cidr, cidrContains, type Cidr } from './cidr.js';
import { parseIp, type IpAddress } from './ip-address.js';
import { normalizeHost } from './normalize-host.js';

/** Why an address is not a public destination. */
export type AddressCategory =
  | 'loopback'
  | 'unspecified'
  | 'link-local'
  | 'private'
  | 'carrier-grade-nat'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'benchmarking';

type Range = readonly [Cidr, AddressCategory];
const ranges = (rows: ReadonlyArray<readonly [string, AddressCategory]>): Range[] => rows.map(([c, cat]) => [cidr(c), cat] as const);

/** IANA IPv4 special-purpose blocks that are not global destinations (most specific first). */
const IPV4: Range[] = ranges([
  ['255.255.255.255/32', 'broadcast'],
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade-nat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'], // former 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
]);

/** IPv6 blocks, checked after the forms that embed an IPv4 address. */
const IPV6: Range[] = ranges([
  ['::/8', 'reserved'], // what is left of it after ::, ::1 and the embedding forms
  ['100::/64', 'reserved'], // discard-only
  ['2001:2::/48', 'benchmarking'],
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'private'], // unique local
  ['fec0::/10', 'private'], // former site-local
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
]);
const UNSPECIFIED_V6 = cidr('::/128');
const LOOPBACK_V6 = cidr('::1/128');
const GLOBAL_UNICAST_V6 = cidr('2000::/3');

/** IPv6 forms that carry an IPv4 address, and which bytes hold it (several layouts for the local-use NAT64 prefix). */
const EMBEDDING: ReadonlyArray<{ block: Cidr; layouts: ReadonlyArray<readonly number[]>; xor?: number }> = [
  { block: cidr('::ffff:0:0/96'), layouts: [[12, 13, 14, 15]] }, // IPv4-mapped
  { block: cidr('::ffff:0:0:0/96'), layouts: [[12, 13, 14, 15]] }, // IPv4-translated (SIIT)
  { block: cidr('64:ff9b::/96'), layouts: [[12, 13, 14, 15]] }, // NAT64 well-known prefix
  // NAT64 local-use prefix: RFC 6052 layouts for /48, /56, /64 and /96 (byte 8 is the reserved "u" octet).
  { block: cidr('64:ff9b:1::/48'), layouts: [[6, 7, 9, 10], [7, 9, 10, 11], [9, 10, 11, 12], [12, 13, 14, 15]] },
  { block: cidr('2002::/16'), layouts: [[2, 3, 4, 5]] }, // 6to4
  { block: cidr('2001::/32'), layouts: [[12, 13, 14, 15]], xor: 0xff }, // Teredo client (obfuscated)
  { block: cidr('::/96'), layouts: [[12, 13, 14, 15]] }, // IPv4-compatible (deprecated)
];

function classifyIpv4(ip: IpAddress): AddressCategory | undefined {
  return IPV4.find(([block]) => cidrContains(block, ip))?.[1];
}

/** The IPv4 addresses an IPv6 address stands for, when it is one of the embedding forms. */
export function embeddedIpv4(ip: IpAddress): IpAddress[] {
  if (ip.family === 4 || cidrContains(UNSPECIFIED_V6, ip) || cidrContains(LOOPBACK_V6, ip)) return [];
  const form = EMBEDDING.find((e) => cidrContains(e.block, ip));
  if (!form) return [];
  return form.layouts.map((layout) => ({ family: 4 as const, bytes: Uint8Array.from(layout.map((i) => ip.bytes[i]! ^ (form.xor ?? 0))) }));
}

/** Category of a parsed address; undefined means public. */
export function classifyIp(ip: IpAddress): AddressCategory | undefined {
  if (ip.family === 4) return classifyIpv4(ip);
  if (cidrContains(UNSPECIFIED_V6, ip)) return 'unspecified';
  if (cidrContains(LOOPBACK_V6, ip)) return 'loopback';
  const embedded = embeddedIpv4(ip);
  if (embedded.length > 0) {
    // Several layouts (local-use NAT64): any refused reading refuses; zeros of another layout read as 0.0.0.0, so name a more telling range first.
    const found = embedded.map(classifyIpv4).filter((c): c is AddressCategory => c !== undefined);
    return found.find((c) => c !== 'unspecified') ?? found[0];
  }
  const special = IPV6.find(([block]) => cidrContains(block, ip))?.[1];
  if (special) return special;
  return cidrContains(GLOBAL_UNICAST_V6, ip) ? undefined : 'reserved';
}

/**
 * Which non-public range an IP address is in (`loopback`, `private`, `link-local`...), or
 * undefined for a public address. IPv4 embedded in IPv6 (mapped, compatible, NAT64, 6to4,
 * Teredo) is classified as that IPv4 address. Accepts what a URL would: `127.1` is 127.0.0.1.
 * Throws TypeError for text that is not an address.
 */
export function classifyAddress(address: string): AddressCategory | undefined {
  const ip = parseIp(address) ?? parseIp(normalizeHost(address) ?? '');
  if (!ip) throw new TypeError(`not an IP address: ${address.slice(0, 100)}`);
  return classifyIp(ip);
}
