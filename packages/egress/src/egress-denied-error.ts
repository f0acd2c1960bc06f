import { RegistryError, type RegistryErrorOptions } from '@pullthrough/oci';
import type { AddressCategory } from './address-category.js';

/** Why a destination was refused: a non-public range, this cache itself, or not http(s) / not an address at all. */
export type EgressRefusal = AddressCategory | 'self' | 'scheme' | 'invalid';

export interface EgressDeniedDetail {
  /** The host as dialled (name or IP literal). */
  host: string;
  /** The address it resolved to (absent when refused before resolution). */
  address?: string;
  port: number;
  /** Which range or rule refused it (`loopback`, `link-local`, `self`...); `category` in the detail is the failure category. */
  addressCategory: EgressRefusal;
}

/**
 * The egress policy refused a connection. Names host, address and range, never a URL path,
 * header or credential. A configuration matter (`rule-config`), not an upstream failure: the
 * upstream client raises it outside the circuit breaker.
 */
export class EgressDeniedError extends RegistryError {
  readonly code = 'EGRESS_DENIED';
  declare detail: EgressDeniedDetail & Record<string, unknown>;

  constructor(message: string, detail: EgressDeniedDetail, options: Omit<RegistryErrorOptions, 'detail'> = {}) {
    super(message, { category: 'rule-config', ...options, detail });
  }
}
