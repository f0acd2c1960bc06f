/**
 * Domain errors. Packages throw these with a stable `code`; the wire table (wire-errors.ts)
 * is the only place that knows OCI wire codes and HTTP statuses.
 */

/** Which part of the cache went wrong; feeds client errors and rule health. */
export type FailureCategory =
  | 'rule-config'
  | 'credential-lookup'
  | 'upstream-auth'
  | 'upstream-unavailable'
  | 'upstream-throttled'
  | 'digest-mismatch'
  | 'hydration';

export interface RegistryErrorOptions {
  detail?: unknown;
  cause?: unknown;
  /** Seconds a client should wait before retrying (becomes `Retry-After`). */
  retryAfterSeconds?: number;
  category?: FailureCategory;
}

export abstract class RegistryError extends Error {
  abstract readonly code: string;
  detail: unknown;
  readonly retryAfterSeconds: number | undefined;
  readonly category: FailureCategory | undefined;

  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.detail = options.detail;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.category = options.category;
  }

  /** Add context (rule, upstream, repository...) to the detail a client sees; returns this. */
  annotate(context: Record<string, unknown>): this {
    const base = typeof this.detail === 'object' && this.detail !== null ? (this.detail as Record<string, unknown>) : {};
    this.detail = { ...base, ...context, ...(this.category ? { category: this.category } : {}) };
    return this;
  }
}

export class NameInvalidError extends RegistryError {
  readonly code = 'NAME_INVALID';
}
export class NameUnknownError extends RegistryError {
  readonly code = 'NAME_UNKNOWN';
}
export class TagInvalidError extends RegistryError {
  readonly code = 'TAG_INVALID';
}
export class DigestInvalidError extends RegistryError {
  readonly code = 'DIGEST_INVALID';
}
export class ManifestUnknownError extends RegistryError {
  readonly code = 'MANIFEST_UNKNOWN';
}
export class ManifestInvalidError extends RegistryError {
  readonly code = 'MANIFEST_INVALID';
}
export class BlobUnknownError extends RegistryError {
  readonly code = 'BLOB_UNKNOWN';
}
export class RangeInvalidError extends RegistryError {
  readonly code = 'RANGE_INVALID';
  /** The object's size when the check knew it (a 416 says it as `Content-Range: bytes *\/<size>`). */
  readonly size: number | undefined;
  constructor(message: string, options: RegistryErrorOptions & { size?: number } = {}) {
    super(message, options);
    this.size = options.size;
  }
}
export class PaginationInvalidError extends RegistryError {
  readonly code = 'PAGINATION_NUMBER_INVALID';
}
export class UnsupportedError extends RegistryError {
  readonly code = 'UNSUPPORTED';
}
export class UnauthorizedError extends RegistryError {
  readonly code = 'UNAUTHORIZED';
}
export class DeniedError extends RegistryError {
  readonly code = 'DENIED';
}
/** An upload session this repository does not have (never started, finished, cancelled or purged). */
export class BlobUploadUnknownError extends RegistryError {
  readonly code = 'BLOB_UPLOAD_UNKNOWN';
}
/** An upload that cannot go on or finish as asked (a malformed chunk header, content that changed meanwhile). */
export class BlobUploadInvalidError extends RegistryError {
  readonly code = 'BLOB_UPLOAD_INVALID';
}
/**
 * A chunk that does not start where the upload ends (out of order, repeated, or lost to a concurrent
 * chunk): 416 with the upload's current size (the route says it as `Range: 0-<size-1>`).
 */
export class UploadRangeError extends RegistryError {
  readonly code = 'UPLOAD_RANGE_INVALID';
  readonly size: number;
  constructor(message: string, options: RegistryErrorOptions & { size: number }) {
    super(message, options);
    this.size = options.size;
  }
}
/** A pushed manifest refers to a blob or manifest the repository does not have. */
export class ManifestBlobUnknownError extends RegistryError {
  readonly code = 'MANIFEST_BLOB_UNKNOWN';
}
/** Pushed content is larger than accepted, or its length disagrees with what was declared. */
export class SizeInvalidError extends RegistryError {
  readonly code = 'SIZE_INVALID';
}
/** A digest computed over received bytes does not match the one asked for. */
export class DigestMismatchError extends RegistryError {
  readonly code = 'DIGEST_MISMATCH';
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, { category: 'digest-mismatch', ...options });
  }
}
/** Upstream 5xx, timeout, reset, truncated body, or an open circuit breaker. */
export class UpstreamUnavailableError extends RegistryError {
  readonly code = 'UPSTREAM_UNAVAILABLE';
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, { category: 'upstream-unavailable', ...options });
  }
}
/** Upstream answered 429. */
export class UpstreamThrottledError extends RegistryError {
  readonly code = 'UPSTREAM_THROTTLED';
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, { category: 'upstream-throttled', ...options });
  }
}
/** A client sent more upstream-bound requests than its rate allows (the upstream was not asked). */
export class ClientThrottledError extends RegistryError {
  readonly code = 'CLIENT_THROTTLED';
}
/** Upstream refused our credentials (401/403 after auth). */
export class UpstreamAuthError extends RegistryError {
  readonly code = 'UPSTREAM_AUTH';
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, { category: 'upstream-auth', ...options });
  }
}
/** Secrets for a credential set could not be read. */
export class CredentialLookupError extends RegistryError {
  readonly code = 'CREDENTIAL_LOOKUP';
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, { category: 'credential-lookup', ...options });
  }
}
/** A cache rule or credential set is misconfigured. */
export class RuleConfigError extends RegistryError {
  readonly code = 'RULE_CONFIG';
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, { category: 'rule-config', ...options });
  }
}
/**
 * A hydration job that no longer agrees with the current cache rules (its rule is gone, or that
 * rule now gives its repository another upstream or credential set). Permanent: the job is refused.
 */
export class JobRuleMismatchError extends RegistryError {
  readonly code = 'JOB_RULE_MISMATCH';
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, { category: 'rule-config', ...options });
  }
}

/** A request that came from this very deployment (a rule leads back to the cache itself). */
export class LoopDetectedError extends RegistryError {
  readonly code = 'LOOP_DETECTED';
  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, { category: 'rule-config', ...options });
  }
}
