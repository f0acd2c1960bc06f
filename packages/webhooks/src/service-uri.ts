import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { WebhookValidationError } from './webhook-validation-error.js';

/** Loopback, private, link-local, CGNAT, unspecified, multicast and reserved ranges (v4 and v6). */
const INTERNAL = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  INTERNAL.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  INTERNAL.addSubnet(net, bits, 'ipv6');
}

export function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return INTERNAL.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return INTERNAL.check(mapped[1]!, 'ipv4');
    return INTERNAL.check(address, 'ipv6');
  }
  return true;
}

export interface ServiceUriPolicy {
  /** Allow loopback/private/link-local targets (operator's choice; tests use it for loopback receivers). */
  allowPrivate: boolean;
  /** Name resolution (default: the system resolver, every address). */
  resolve?: (host: string) => Promise<string[]>;
}

const systemResolve = async (host: string): Promise<string[]> => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/**
 * A webhook target must be http(s) and, unless the operator allows it, resolve only to public
 * addresses (no SSRF into the cluster, the cloud metadata endpoint or the host). Checked when a
 * webhook is saved and again before each delivery (DNS can change).
 */
export async function checkServiceUri(uri: string, policy: ServiceUriPolicy, field = 'serviceUri'): Promise<URL> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new WebhookValidationError([{ field, message: 'must be an absolute URL' }]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new WebhookValidationError([{ field, message: 'must use http or https' }]);
  if (url.username || url.password) throw new WebhookValidationError([{ field, message: 'must not carry credentials (use customHeaders)' }]);
  if (policy.allowPrivate) return url;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : await (policy.resolve ?? systemResolve)(host);
  } catch {
    throw new WebhookValidationError([{ field, message: `host ${host} does not resolve` }]);
  }
  const internal = addresses.filter(isInternalAddress);
  if (addresses.length === 0 || internal.length > 0) {
    throw new WebhookValidationError([{ field, message: `must not point at a loopback, private or link-local address (${host} -> ${internal.join(', ') || 'nothing'})` }]);
  }
  return url;
}
