import { CliError, EXIT, type ExitCode } from './exit-codes.js';

interface Problem {
  title?: unknown;
  detail?: unknown;
  errors?: unknown;
}

/** The exit code an HTTP error status means. */
export function exitCodeFor(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status >= 500) return EXIT.unavailable;
  return EXIT.refused;
}

/**
 * A non-2xx answer as the CLI reports it: the problem JSON's status, title and detail on one line,
 * then each field error as `field: message` (the names the API uses, e.g. `sourceRepository`).
 */
export function apiError(status: number, body: unknown, text: string, hint?: string): CliError {
  const p = (typeof body === 'object' && body !== null ? body : {}) as Problem;
  const title = typeof p.title === 'string' ? p.title : undefined;
  const detail = typeof p.detail === 'string' ? p.detail : undefined;
  const lines = [`error: ${status}${title ? ` ${title}` : ''}${detail ? `: ${detail}` : ''}`];
  if (!title && !detail && text.trim() !== '') lines[0] += `: ${text.trim().replace(/\s+/g, ' ').slice(0, 300)}`;
  if (Array.isArray(p.errors)) {
    for (const e of p.errors as Array<{ field?: unknown; message?: unknown }>) {
      if (typeof e === 'object' && e !== null) lines.push(`  ${String(e.field ?? '(body)')}: ${String(e.message ?? '')}`);
    }
  }
  if (hint) lines.push(hint);
  return new CliError(exitCodeFor(status), lines.join('\n'));
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'the answer stalled',
  UND_ERR_SOCKET: 'the connection broke',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS: the server certificate is self-signed and not trusted (use --ca-file)',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS: the server certificate chain is not trusted (use --ca-file)',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS: the server certificate is not trusted (use --ca-file)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS: the server certificate is not trusted (use --ca-file)',
  CERT_HAS_EXPIRED: 'TLS: the server certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS: the server certificate does not name this host',
  EPROTO: 'TLS handshake failed (is it an https server?)',
  ERR_SSL_WRONG_VERSION_NUMBER: 'TLS handshake failed (is it an https server?)',
};

/** Why a request never got an answer: exit 5, naming the URL (never a header) and the reason. */
export function networkError(url: string, err: unknown): CliError {
  let e = err as { code?: string; name?: string; message?: string; cause?: unknown } | undefined;
  let code = e?.code;
  // undici wraps the socket error; the first code down the cause chain says what happened.
  for (let depth = 0; e && depth < 4 && (code === undefined || !(code in NETWORK_REASONS)); depth++) {
    e = e.cause as typeof e;
    code = e?.code ?? code;
  }
  const timedOut = (err as { name?: string })?.name === 'TimeoutError' || (err as { name?: string })?.name === 'AbortError';
  const reason = timedOut ? 'no answer within --timeout' : code !== undefined && code in NETWORK_REASONS ? NETWORK_REASONS[code]! : `${code ?? (err as Error)?.message ?? 'failed'}`;
  return new CliError(EXIT.unavailable, `error: cannot reach ${url}: ${reason}`);
}
