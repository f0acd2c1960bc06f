import { lookup } from 'node:dns/promises';

/** Name resolution: every address of a host name. Injectable so tests can answer what they like. */
export type Resolve = (hostname: string) => Promise<string[]>;

/** The system resolver (getaddrinfo: /etc/hosts, DNS), every address, in the resolver's order. */
export const systemResolve: Resolve = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);
