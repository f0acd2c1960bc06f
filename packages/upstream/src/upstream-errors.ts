import { EgressDeniedError } from '@pullthrough/egress';
import { UpstreamThrottledError, UpstreamUnavailableError } from '@pullthrough/oci';
import { parseRetryAfter } from './retry-after.js';
import { headerOf, type ResponseHeaders } from './response-headers.js';

/** `detail` of every upstream error: which upstream, the HTTP status if any, and why. Never a secret. */
export interface UpstreamErrorDetail {
  upstream: string;
  status?: number;
  reason: string;
}

interface Extra {
  status?: number;
  cause?: unknown;
  retryAfterSeconds?: number;
}

function detailOf(upstream: string, reason: string, extra: Extra): UpstreamErrorDetail {
  return extra.status === undefined ? { upstream, reason } : { upstream, status: extra.status, reason };
}

export function upstreamUnavailable(upstream: string, reason: string, extra: Extra = {}): UpstreamUnavailableError {
  return new UpstreamUnavailableError(`upstream ${upstream} is unavailable: ${reason}`, {
    detail: detailOf(upstream, reason, extra),
    cause: extra.cause,
    retryAfterSeconds: extra.retryAfterSeconds,
  });
}

export function upstreamThrottled(upstream: string, reason: string, extra: Extra = {}): UpstreamThrottledError {
  return new UpstreamThrottledError(`upstream ${upstream} is throttling us: ${reason}`, {
    detail: detailOf(upstream, reason, extra),
    cause: extra.cause,
    retryAfterSeconds: extra.retryAfterSeconds,
  });
}

/** 429 and 5xx are failures (STYLE 9); `who` names the answering host when it is not the registry. */
export function statusError(upstream: string, status: number, headers: ResponseHeaders, who = 'upstream'): Error {
  const retryAfterSeconds = parseRetryAfter(headerOf(headers, 'retry-after'));
  const reason = `${who} answered ${status}`;
  return status === 429
    ? upstreamThrottled(upstream, reason, { status, retryAfterSeconds })
    : upstreamUnavailable(upstream, reason, { status, retryAfterSeconds });
}

const REASONS: Record<string, string> = {
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_HEADERS_TIMEOUT: 'idle timeout waiting for response headers',
  UND_ERR_BODY_TIMEOUT: 'idle timeout on the response body',
  UND_ERR_SOCKET: 'connection closed unexpectedly',
  UND_ERR_CLOSED: 'connection closed',
  UND_ERR_DESTROYED: 'connection destroyed',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'response body shorter or longer than its Content-Length',
  UND_ERR_ABORTED: 'request aborted',
  ERR_UPSTREAM_INVALID_RESPONSE: 'invalid HTTP response',
};

/** Map a network-level error (undici, socket, DNS, TLS) to UpstreamUnavailableError. An egress refusal stays what it is. */
export function transportError(upstream: string, err: unknown): Error {
  if (err instanceof UpstreamUnavailableError || err instanceof UpstreamThrottledError || err instanceof EgressDeniedError) return err;
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined;
  let reason = code === undefined ? 'request failed' : REASONS[code];
  if (reason === undefined) {
    reason = /CERT|TLS|SSL/.test(code!) ? `tls error (${code})` : `network error (${code})`;
  }
  return upstreamUnavailable(upstream, reason, { cause: err });
}
