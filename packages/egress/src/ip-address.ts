import { isIPv4, isIPv6 } from 'node:net';

/** An IP address as bytes (4 or 16): what ranges are compared on, whatever the text looked like. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/**
 * Parse canonical IP text: dotted-quad IPv4, or IPv6 (compressed, with a dotted IPv4 tail, with
 * or without `[]` and a `%zone`). Odd IPv4 forms (`127.1`, `0x7f.0.0.1`, `2130706433`) are not
 * addresses here: normalize hosts with normalizeHost first.
 */
export function parseIp(text: string): IpAddress | undefined {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIPv4(s)) return { family: 4, bytes: Uint8Array.from(s.split('.').map(Number)) };
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!isIPv6(s)) return undefined;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a, b, c, d] = tail.split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const zeros = rest === undefined ? 0 : 8 - headGroups.length - restGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...restGroups].map((g) => parseInt(g, 16));
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return { family: 6, bytes };
}

/** Dotted-quad text of 4 bytes. */
export function formatIpv4(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4)).join('.');
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) stands for: the same host. */
export function unmapIpv4(ip: IpAddress): IpAddress {
  if (ip.family === 4) return ip;
  const b = ip.bytes;
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  return mapped ? { family: 4, bytes: b.slice(12, 16) } : ip;
}
