import type { Request } from 'express';

/** Who a data-plane request is for, as the miss limiter counts it (see PullContext.client). */
export type ClientKey = (req: Request) => string;

/**
 * The default key: the authenticated identity when the request carries one
 * (`res.locals.principal.subject`, set by client authentication), else the remote address
 * (an IPv4-mapped IPv6 address counts as its IPv4 form). Behind a proxy that does not keep source
 * addresses, every client shares the proxy's address: raise the limit or key by identity.
 */
export const clientKey: ClientKey = (req) => {
  const subject = (req.res?.locals.principal as { subject?: unknown } | undefined)?.subject;
  if (typeof subject === 'string' && subject !== '') return `subject:${subject}`;
  const address = req.socket.remoteAddress ?? 'unknown';
  return `address:${address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address}`;
};
