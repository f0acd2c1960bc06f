import type { EgressPolicy } from '@pullthrough/egress';
import { WebhookValidationError } from './webhook-validation-error.js';

/** A webhook target's shape: an absolute http(s) URL without credentials. No resolution. */
export function parseServiceUri(uri: string, field = 'serviceUri'): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new WebhookValidationError([{ field, message: 'must be an absolute URL' }]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new WebhookValidationError([{ field, message: 'must use http or https' }]);
  if (url.username || url.password) throw new WebhookValidationError([{ field, message: 'must not carry credentials (use customHeaders)' }]);
  return url;
}

/**
 * Save-time check: the shape, and the egress policy on every address the host resolves to now
 * (loopback, private, link-local, metadata... refused unless PULLTHROUGH_EGRESS_ALLOW opens them).
 * Delivery does not trust this: it goes through the egress agent, which checks the address it dials.
 */
export async function checkServiceUri(uri: string, egress: EgressPolicy, field = 'serviceUri'): Promise<URL> {
  const url = parseServiceUri(uri, field);
  const decision = await egress.checkUrl(url);
  if (!decision.allowed) throw new WebhookValidationError([{ field, message: `must not point at a refused address: ${decision.reason}` }]);
  return url;
}
