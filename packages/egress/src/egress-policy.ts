import { isIP } from 'node:net';
import { classifyIp, type AddressCategory } from './address-category.js';
import { allowEntryMatches, parseAllowList, type AllowEntry } from './allow-list.js';
import { EgressDeniedError, type EgressRefusal } from './egress-denied-error.js';
import { parseIp } from './ip-address.js';
import { normalizeHost, splitHostPort, unbracket } from './normalize-host.js';
import { SelfEndpoints } from './self-endpoints.js';
import { systemResolve, type Resolve } from './system-resolve.js';

export type EgressDecision = { allowed: true } | { allowed: false; refusal: EgressRefusal; reason: string };

export interface EgressPolicyOptions {
  /** The operator's exceptions (PULLTHROUGH_EGRESS_ALLOW): a comma list or its entries. Throws TypeError on a bad entry. */
  allow?: string | readonly string[];
  /** Name resolution used by every check and every connection made through this policy. */
  resolve?: Resolve;
}

const RANGE_TEXT: Record<AddressCategory, string> = {
  loopback: 'a loopback address',
  unspecified: 'an unspecified address',
  'link-local': 'a link-local address',
  private: 'a private address',
  'carrier-grade-nat': 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved address',
  documentation: 'a documentation address',
  benchmarking: 'a benchmarking address',
};

/**
 * One egress policy for every outbound connection: public addresses are allowed; loopback,
 * unspecified, link-local, private, CGNAT, multicast and reserved ones (IPv4 embedded in IPv6
 * included) only when the allow-list opens them; this cache's own listeners never.
 */
export class EgressPolicy {
  readonly self = new SelfEndpoints();
  readonly resolve: Resolve;
  private readonly allow: readonly AllowEntry[];

  constructor(options: EgressPolicyOptions = {}) {
    this.allow = parseAllowList(options.allow ?? []);
    this.resolve = options.resolve ?? systemResolve;
  }

  /** The allow-list as the operator wrote it (for logs; holds no secret). */
  get allowList(): string[] {
    return this.allow.map((e) => e.text);
  }

  /** May we connect to `address`:`port` for `host` (the name or IP literal being dialled)? */
  decide(host: string, address: string, port: number): EgressDecision {
    const name = unbracket(host).toLowerCase().replace(/\.$/, '');
    const ip = parseIp(address);
    if (!ip) return { allowed: false, refusal: 'invalid', reason: `${address.slice(0, 100)} is not an IP address` };
    const where = name === unbracket(address) ? `${address}:${port}` : `${name} (${address}:${port})`;
    if (this.self.has(ip, port)) return { allowed: false, refusal: 'self', reason: `${where} is this cache's own listener` };
    const category = classifyIp(ip);
    if (category === undefined) return { allowed: true };
    if (this.allow.some((e) => allowEntryMatches(e, { host: name, address: ip, port }))) return { allowed: true };
    return { allowed: false, refusal: category, reason: `${where} is ${RANGE_TEXT[category]}, not allowed by the egress policy` };
  }

  /** Like decide, throwing EgressDeniedError when refused. */
  assert(host: string, address: string, port: number): void {
    const decision = this.decide(host, address, port);
    if (!decision.allowed) throw deniedError(host, address, port, decision);
  }

  /**
   * Save-time check of a `host[:port]` that was not parsed by a URL (a rule's registry host):
   * numeric forms are normalized as a URL would (`127.1`, `2130706433`). An IP literal is decided
   * now; a name gives undefined (it is checked on the resolved address at connect time).
   */
  checkHostLiteral(hostPort: string, defaultPort: number): EgressDecision | undefined {
    const split = splitHostPort(hostPort);
    if (!split) return { allowed: false, refusal: 'invalid', reason: `"${hostPort.slice(0, 300)}" is not a valid host[:port]` };
    const address = unbracket(split.host);
    if (isIP(address) === 0) return undefined;
    return this.decide(address, address, split.port ?? defaultPort);
  }

  /**
   * Resolve a URL's host now and decide every address (a webhook being saved). Delivery does not
   * rely on this: connections made through createEgressAgent check the address they dial.
   */
  async checkUrl(url: URL): Promise<EgressDecision> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return { allowed: false, refusal: 'scheme', reason: `${url.protocol.replace(':', '')} is not http or https` };
    }
    const host = unbracket(normalizeHost(url.hostname) ?? url.hostname);
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    let addresses: string[];
    try {
      addresses = isIP(host) ? [host] : await this.resolve(host);
    } catch {
      return { allowed: false, refusal: 'invalid', reason: `${host} does not resolve` };
    }
    if (addresses.length === 0) return { allowed: false, refusal: 'invalid', reason: `${host} does not resolve` };
    for (const address of addresses) {
      const decision = this.decide(host, address, port);
      if (!decision.allowed) return decision;
    }
    return { allowed: true };
  }
}

export function deniedError(host: string, address: string | undefined, port: number, decision: Extract<EgressDecision, { allowed: false }>): EgressDeniedError {
  return new EgressDeniedError(`egress refused: ${decision.reason}`, {
    host: unbracket(host),
    ...(address !== undefined && decision.refusal !== 'invalid' ? { address } : {}),
    port,
    addressCategory: decision.refusal,
  });
}
