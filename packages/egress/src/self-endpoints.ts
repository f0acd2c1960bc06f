import { classifyIp } from './address-category.js';
import { parseIp, unmapIpv4, type IpAddress } from './ip-address.js';

const same = (a: IpAddress, b: IpAddress) => a.family === b.family && a.bytes.every((x, i) => x === b.bytes[i]);

/**
 * This cache's own listeners (address + port). A connection to one of them is refused whatever
 * the allow-list says: a rule or a redirect must not make the cache fetch from itself. A
 * listener on an unspecified address (0.0.0.0, ::) is reachable on every local address: those
 * are given as `localAddresses` (the frontend passes its interfaces' addresses).
 */
export class SelfEndpoints {
  private readonly endpoints: Array<{ address: IpAddress; port: number }> = [];
  private readonly anyAddressPorts = new Set<number>();
  private local: IpAddress[] = [];

  /** Add a listener; returns false when `address` is not an IP address (nothing added). */
  add(address: string, port: number): boolean {
    const ip = parseIp(address);
    if (!ip || !(port > 0)) return false;
    const plain = unmapIpv4(ip);
    if (classifyIp(plain) === 'unspecified') this.anyAddressPorts.add(port);
    else if (!this.endpoints.some((e) => e.port === port && same(e.address, plain))) this.endpoints.push({ address: plain, port });
    return true;
  }

  /** Addresses of this host's interfaces (they reach a listener on 0.0.0.0 or ::). */
  setLocalAddresses(addresses: readonly string[]): void {
    this.local = addresses.map(parseIp).filter((ip): ip is IpAddress => ip !== undefined).map(unmapIpv4);
  }

  /** Would connecting to address:port reach one of our listeners? */
  has(address: IpAddress, port: number): boolean {
    const ip = unmapIpv4(address);
    const category = classifyIp(ip);
    // Connecting to 0.0.0.0 or :: reaches the local host (Linux).
    if (category === 'unspecified') return this.anyAddressPorts.has(port) || this.endpoints.some((e) => e.port === port);
    if (this.anyAddressPorts.has(port) && (category === 'loopback' || this.local.some((l) => same(l, ip)))) return true;
    return this.endpoints.some((e) => e.port === port && same(e.address, ip));
  }

  get size(): number {
    return this.endpoints.length + this.anyAddressPorts.size;
  }
}
