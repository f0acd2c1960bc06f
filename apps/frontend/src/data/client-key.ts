import type { Request } from 'express';
import type { Principal } from '@pullthrough/auth';

/** Who a data-plane request is for, as the miss limiter counts it (see PullContext.client). */
export type ClientKey = (req: Request) => string;

/**
 * The default key: the authenticated user when the request carries one (`res.locals.principal`,
 * set by client authentication: Basic or a user's token), else the remote address
 * (an IPv4-mapped IPv6 address counts as its IPv4 form). Behind a proxy that does not keep source
 * addresses, every client shares the proxy's address: raise the limit or key by identity.
 */
export const clientKey: ClientKey = (req) => {
  const principal = req.res?.locals.principal as Principal | undefined;
  // Anonymous clients (and anonymous tokens) are told apart by address, never pooled as one.
  if (principal && principal.kind !== 'anonymous' && !(principal.kind === 'token' && principal.anonymous)) return `subject:${principal.subject}`;
  const address = req.socket.remoteAddress ?? 'unknown';
  return `address:${address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address}`;
};
