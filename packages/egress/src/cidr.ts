import { parseIp, type IpAddress } from './ip-address.js';

/** An address block: the first `bits` bits of `base`. */
export interface Cidr {
  readonly base: IpAddress;
  readonly bits: number;
}

/** `10.0.0.0/8`, `fd00::/8`, or a single address (a /32 or /128). Host bits are ignored. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const base = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!base) return undefined;
  const max = base.family === 4 ? 32 : 128;
  if (slash < 0) return { base, bits: max };
  const bitsText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return undefined;
  return { base, bits: Number(bitsText) };
}

/** Does the block hold the address (same family only)? */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.base.family !== ip.family) return false;
  const full = Math.floor(cidr.bits / 8);
  for (let i = 0; i < full; i++) if (cidr.base.bytes[i] !== ip.bytes[i]) return false;
  const rest = cidr.bits % 8;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (cidr.base.bytes[full]! & mask) === (ip.bytes[full]! & mask);
}

/** Parse a table's literal block; throws on a typo (tables are ours, not input). */
export function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed) throw new TypeError(`invalid CIDR ${text}`);
  return parsed;
}
