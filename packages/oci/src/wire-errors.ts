import { RegistryError } from './errors.js';

export interface WireError {
  status: number;
  code: string;
  message: string;
  detail?: unknown;
  retryAfterSeconds?: number;
}

/** Domain code -> OCI wire code and HTTP status. The one table that knows the wire. */
const TABLE: Record<string, { code: string; status: number }> = {
  NAME_INVALID: { code: 'NAME_INVALID', status: 400 },
  NAME_UNKNOWN: { code: 'NAME_UNKNOWN', status: 404 },
  TAG_INVALID: { code: 'TAG_INVALID', status: 400 },
  DIGEST_INVALID: { code: 'DIGEST_INVALID', status: 400 },
  MANIFEST_UNKNOWN: { code: 'MANIFEST_UNKNOWN', status: 404 },
  MANIFEST_INVALID: { code: 'MANIFEST_INVALID', status: 400 },
  BLOB_UNKNOWN: { code: 'BLOB_UNKNOWN', status: 404 },
  RANGE_INVALID: { code: 'RANGE_INVALID', status: 416 },
  PAGINATION_NUMBER_INVALID: { code: 'PAGINATION_NUMBER_INVALID', status: 400 },
  BLOB_UPLOAD_UNKNOWN: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404 },
  BLOB_UPLOAD_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 400 },
  // An out-of-order or repeated chunk: 416 with the upload's current Range (distribution answers the same).
  UPLOAD_RANGE_INVALID: { code: 'RANGE_INVALID', status: 416 },
  MANIFEST_BLOB_UNKNOWN: { code: 'MANIFEST_BLOB_UNKNOWN', status: 400 },
  SIZE_INVALID: { code: 'SIZE_INVALID', status: 400 },
  UNSUPPORTED: { code: 'UNSUPPORTED', status: 405 },
  UNAUTHORIZED: { code: 'UNAUTHORIZED', status: 401 },
  DENIED: { code: 'DENIED', status: 403 },
  DIGEST_MISMATCH: { code: 'DIGEST_INVALID', status: 502 },
  UPSTREAM_UNAVAILABLE: { code: 'UNAVAILABLE', status: 503 },
  UPSTREAM_THROTTLED: { code: 'TOOMANYREQUESTS', status: 429 },
  CLIENT_THROTTLED: { code: 'TOOMANYREQUESTS', status: 429 },
  UPSTREAM_AUTH: { code: 'DENIED', status: 403 },
  CREDENTIAL_LOOKUP: { code: 'UNAVAILABLE', status: 502 },
  RULE_CONFIG: { code: 'UNAVAILABLE', status: 502 },
  // A permanent policy decision, not an outage: 403 tells the client not to retry (a 5xx would be
  // retried and read as the upstream being down). The detail names the rule, host, address and range.
  EGRESS_DENIED: { code: 'DENIED', status: 403 },
  // 508 Loop Detected: a rule leads back to this cache; answering at once breaks the loop (and the join deadlock).
  LOOP_DETECTED: { code: 'DENIED', status: 508 },
  JOB_RULE_MISMATCH: { code: 'UNAVAILABLE', status: 502 },
};

/** Map any thrown value to the error a client sees. Unknown errors become UNKNOWN 500. */
export function toWireError(err: unknown): WireError {
  if (err instanceof RegistryError) {
    const entry = TABLE[err.code] ?? { code: 'UNKNOWN', status: 500 };
    const wire: WireError = { status: entry.status, code: entry.code, message: err.message };
    if (err.detail !== undefined) wire.detail = err.detail;
    if (err.retryAfterSeconds !== undefined) wire.retryAfterSeconds = err.retryAfterSeconds;
    return wire;
  }
  return { status: 500, code: 'UNKNOWN', message: 'unknown error' };
}

/** True when the error is ours and mapped (anything else is a bug worth logging loudly). */
export function isKnownError(err: unknown): err is RegistryError {
  return err instanceof RegistryError && err.code in TABLE;
}

export function wireErrorBody(wire: WireError): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
  const entry: { code: string; message: string; detail?: unknown } = { code: wire.code, message: wire.message };
  if (wire.detail !== undefined) entry.detail = wire.detail;
  return { errors: [entry] };
}
