import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from './undici.js';
import type * as Undici from 'undici';
import { EgressDeniedError } from './egress-denied-error.js';
import { deniedError, type EgressPolicy } from './egress-policy.js';

export interface EgressAgentOptions {
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** undici's headersTimeout / bodyTimeout (no bytes for this long: the request fails). Default undici's (300 s). */
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Extra TLS options for every connection (e.g. `ca` for a private CA). */
  tls?: { ca?: string | Buffer | Array<string | Buffer> };
}

type Connector = ReturnType<typeof buildConnector>;

/**
 * The connector behind every egress agent. IP-literal hosts are decided before anything is
 * sent; names are resolved by our own lookup hook inside net/tls.connect, so the address that
 * is decided is the address that is dialled (no second resolution: DNS rebinding cannot slip
 * through). Only http and https. A refusal fails the request with EgressDeniedError.
 */
export function egressConnector(policy: EgressPolicy, options: EgressAgentOptions = {}): Connector {
  // The lookup hook is not told the port, so there is one inner connector per port (a handful).
  const byPort = new Map<number, Connector>();
  const innerFor = (port: number): Connector => {
    let inner = byPort.get(port);
    if (inner === undefined) {
      // Only `ca` is taken from the TLS options: nothing may loosen verification or replace the policy's lookup.
      inner = buildConnector({ timeout: options.connectTimeoutMs ?? 10_000, ...(options.tls?.ca !== undefined ? { ca: options.tls.ca } : {}), lookup: egressLookup(policy, port) } as Undici.buildConnector.BuildOptions);
      byPort.set(port, inner);
    }
    return inner;
  };
  return (opts, callback) => {
    const refuse = (err: EgressDeniedError) => process.nextTick(callback, err, null);
    const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80);
    if (opts.protocol !== 'http:' && opts.protocol !== 'https:') {
      refuse(deniedError(opts.hostname, undefined, port, { allowed: false, refusal: 'scheme', reason: `${opts.protocol.replace(':', '')} is not http or https` }));
      return;
    }
    if (isIP(opts.hostname) !== 0) {
      const decision = policy.decide(opts.hostname, opts.hostname, port);
      if (!decision.allowed) {
        refuse(deniedError(opts.hostname, opts.hostname, port, decision));
        return;
      }
    }
    innerFor(port)(opts, callback);
  };
}

/** A net/tls `lookup` that resolves through the policy and refuses when any address is refused. */
export function egressLookup(policy: EgressPolicy, port: number): LookupFunction {
  return (hostname, dnsOptions, callback) => {
    const cb = callback as (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void;
    policy.resolve(hostname).then(
      (addresses) => {
        for (const address of addresses) {
          const decision = policy.decide(hostname, address, port);
          if (!decision.allowed) return cb(deniedError(hostname, address, port, decision) as Error as NodeJS.ErrnoException, '');
        }
        const wanted = dnsOptions.family === 4 || dnsOptions.family === 6 ? dnsOptions.family : 0;
        const usable = addresses.map((address) => ({ address, family: isIP(address) })).filter((a) => a.family !== 0 && (wanted === 0 || a.family === wanted));
        if (usable.length === 0) {
          const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
          err.code = 'ENOTFOUND';
          return cb(err, '');
        }
        if (dnsOptions.all) return cb(null, usable);
        return cb(null, usable[0]!.address, usable[0]!.family);
      },
      (err: NodeJS.ErrnoException) => cb(err, ''),
    );
  };
}

/**
 * An undici Agent (one pool per origin) whose every connection goes through the egress policy.
 * Use it as the `dispatcher` of `request`/`fetch` for anything that leaves the process: upstream
 * registries, token realms, redirects, webhooks, an OIDC issuer's JWKS.
 */
export function createEgressAgent(policy: EgressPolicy, options: EgressAgentOptions = {}): Agent {
  return new Agent({
    connect: egressConnector(policy, options),
    ...(options.headersTimeoutMs !== undefined ? { headersTimeout: options.headersTimeoutMs } : {}),
    ...(options.bodyTimeoutMs !== undefined ? { bodyTimeout: options.bodyTimeoutMs } : {}),
  });
}
