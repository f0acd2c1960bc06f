import { cidrContains, parseCidr, type Cidr } from './cidr.js';
import { unmapIpv4, type IpAddress } from './ip-address.js';
import { normalizeHost, unbracket } from './normalize-host.js';

/** One exception the operator opens: a host name, an address or a CIDR block, optionally on one port only. */
export type AllowEntry = { kind: 'host'; host: string; port?: number; text: string } | { kind: 'net'; net: Cidr; port?: number; text: string };

/** What an entry is matched against: the host as dialled (a name or an IP literal) and the address actually connected to. */
export interface EgressTarget {
  /** Normalized host name, or the IP literal when the URL had one (no brackets). */
  host: string;
  address: IpAddress;
  port: number;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function portOf(text: string | undefined): number | undefined | null {
  if (text === undefined) return undefined;
  const port = /^\d{1,5}$/.test(text) ? Number(text) : 0;
  return port >= 1 && port <= 65535 ? port : null;
}

/**
 * Parse one entry: `registry.internal`, `registry.internal:5000`, `10.1.2.3`, `10.0.0.0/8`,
 * `10.0.0.0/8:5000`, `127.0.0.1:5000`, `fd00::/8`, `[fd00::1]:5000`, `[fd00::/8]:5000`.
 * Returns the entry or why it is not one.
 */
export function parseAllowEntry(raw: string): AllowEntry | string {
  const text = raw.trim().toLowerCase();
  let hostPart = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const m = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
    if (!m) return `"${raw}": a bracketed IPv6 address or block must look like [fd00::1] or [fd00::/8]:5000`;
    [hostPart, portText] = [m[1]!, m[2]];
  } else if ((text.match(/:/g) ?? []).length === 1) {
    [hostPart, portText] = text.split(':') as [string, string];
  }
  const port = portOf(portText);
  if (port === null) return `"${raw}": port must be 1-65535`;
  const withPort = <T extends object>(entry: T) => (port === undefined ? entry : { ...entry, port });
  if (hostPart.includes('/') || hostPart.includes(':')) {
    const net = parseCidr(hostPart);
    if (!net) return `"${raw}": not an IP address or CIDR block`;
    return withPort({ kind: 'net' as const, net, text });
  }
  const host = normalizeHost(hostPart);
  if (host === undefined) return `"${raw}": not a host name, IP address or CIDR block`;
  const asIp = parseCidr(unbracket(host));
  if (asIp) return withPort({ kind: 'net' as const, net: asIp, text });
  if (!HOST_NAME.test(host)) return `"${raw}": not a host name, IP address or CIDR block`;
  return withPort({ kind: 'host' as const, host, text });
}

/** Parse a list (a comma-separated string or entries); throws a TypeError naming every bad entry. */
export function parseAllowList(input: string | readonly string[]): AllowEntry[] {
  const items = (typeof input === 'string' ? input.split(',') : [...input]).map((s) => s.trim()).filter(Boolean);
  const parsed = items.map(parseAllowEntry);
  const problems = parsed.filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new TypeError(problems.join('; '));
  return parsed as AllowEntry[];
}

/** Does the entry open this target? A name opens whatever it resolves to; an IPv4-mapped address is its IPv4 host. */
export function allowEntryMatches(entry: AllowEntry, target: EgressTarget): boolean {
  if (entry.port !== undefined && entry.port !== target.port) return false;
  if (entry.kind === 'host') return entry.host === target.host;
  return cidrContains(entry.net, target.address) || cidrContains(entry.net, unmapIpv4(target.address));
}
