import type { Dispatcher } from 'undici';
import { request, type PooledBody, type PooledHttpClient } from '@pullthrough/egress';
import { inSpan, SpanKind, type Span } from '@pullthrough/telemetry';
import { discard } from './body-streams.js';
import { headerOf } from './response-headers.js';
import { statusError, transportError, upstreamUnavailable } from './upstream-errors.js';

export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export type HttpMethod = 'GET' | 'HEAD';

export interface TransportResponse {
  statusCode: number;
  headers: Dispatcher.ResponseData['headers'];
  /** undici's body, or (a blob read through the blob reader) a PooledBody whose chunks are lent slab views. */
  body: Dispatcher.ResponseData['body'] | PooledBody;
  /** The URL that gave this response, after redirects. */
  url: URL;
  /** True when no redirect left the trusted host, i.e. credentials went along all the way. */
  trusted: boolean;
}

export interface TransportOptions {
  upstream: string;
  insecure: boolean;
  dispatcher: Dispatcher;
  /** Blob bodies (`send`'s `pooled`) are read with it, every hop (registry and redirect target) alike. */
  blobReader?: PooledHttpClient;
  userAgent: string;
  /** Sees the status and headers of every response (rate-limit tracking). */
  onResponse?: (headers: Dispatcher.ResponseData['headers'], status: number) => void;
  /** Sees every hop's status, or undefined when the request failed before one (metrics). */
  onAnswer?: (status: number | undefined) => void;
}

/** A bounded name for what a request asks for, from its path (never the path itself): outside `/v2/` it is a token realm. */
function operationOf(url: URL): string {
  if (!url.pathname.startsWith('/v2/')) return 'token';
  const m = /\/(manifests|blobs|tags|referrers)\/[^/]*$/.exec(url.pathname);
  if (m) return m[1]!;
  return url.pathname === '/v2/' ? 'ping' : 'other';
}

/**
 * Sends one logical request: follows redirects itself (undici 7's `request` never follows them
 * unless the redirect interceptor is composed, which we do not), drops `Authorization` once a hop
 * leaves the trusted host, and turns 429/5xx and network errors into rejections.
 * Other statuses, 404/401/403 included, come back as responses.
 */
export class UpstreamTransport {
  constructor(private readonly options: TransportOptions) {}

  /**
   * One client span per logical request (`upstream GET manifests`), ended when the final response's
   * headers are in: registry, host, method, status and redirect count. Never a URL, a query or a header.
   */
  send(method: HttpMethod, url: URL, headers: Record<string, string>, trustedHost: string, pooled = false): Promise<TransportResponse> {
    const operation = operationOf(url);
    const attributes = {
      'pullthrough.upstream': this.options.upstream,
      'pullthrough.upstream.operation': operation,
      'server.address': url.hostname,
      'http.request.method': method,
    };
    return inSpan(`upstream ${method} ${operation}`, attributes, (span) => this.follow(method, url, headers, trustedHost, span, pooled), SpanKind.CLIENT);
  }

  private async follow(method: HttpMethod, url: URL, headers: Record<string, string>, trustedHost: string, span: Span, pooled: boolean): Promise<TransportResponse> {
    let current = url;
    let outgoing = { ...headers };
    let trusted = true;
    for (let hop = 0; ; hop++) {
      const res = await this.once(method, current, outgoing, current.host === trustedHost, span, pooled);
      if (hop > 0) span.setAttribute('pullthrough.upstream.redirects', hop);
      const location = REDIRECT_STATUSES.has(res.statusCode) ? headerOf(res.headers, 'location') : undefined;
      if (location === undefined) return { ...res, url: current, trusted };
      await discard(res.body);
      if (hop >= MAX_REDIRECTS) {
        throw upstreamUnavailable(this.options.upstream, `more than ${MAX_REDIRECTS} redirects`, { status: res.statusCode });
      }
      current = this.redirectTarget(current, location, res.statusCode);
      if (trusted && current.host !== trustedHost) {
        trusted = false;
        outgoing = { ...outgoing };
        delete outgoing.authorization;
      }
    }
  }

  private async once(method: HttpMethod, url: URL, headers: Record<string, string>, onTrustedHost: boolean, span: Span, pooled: boolean) {
    this.assertProtocol(url);
    let res: Pick<TransportResponse, 'statusCode' | 'headers' | 'body'>;
    const outgoing = { 'user-agent': this.options.userAgent, ...headers };
    const reader = pooled ? this.options.blobReader : undefined;
    try {
      res = reader ? await reader.request(url, { method, headers: outgoing }) : await request(url, { method, headers: outgoing, dispatcher: this.options.dispatcher });
    } catch (err) {
      this.options.onAnswer?.(undefined);
      throw transportError(this.options.upstream, err);
    }
    this.options.onAnswer?.(res.statusCode);
    span.setAttribute('http.response.status_code', res.statusCode);
    if (onTrustedHost) this.options.onResponse?.(res.headers, res.statusCode);
    if (res.statusCode === 429 || res.statusCode >= 500) {
      await discard(res.body);
      const who = onTrustedHost ? 'upstream' : `redirect target ${url.host}`;
      throw statusError(this.options.upstream, res.statusCode, res.headers, who);
    }
    return res;
  }

  private redirectTarget(from: URL, location: string, status: number): URL {
    try {
      return new URL(location, from);
    } catch (err) {
      throw upstreamUnavailable(this.options.upstream, 'redirect with an invalid Location', { status, cause: err });
    }
  }

  /** Plain http only when the operator listed this upstream as insecure; never a downgrade. */
  private assertProtocol(url: URL): void {
    if (url.protocol === 'https:' || (url.protocol === 'http:' && this.options.insecure)) return;
    throw upstreamUnavailable(this.options.upstream, `refusing ${url.protocol.replace(':', '')} to ${url.host}`);
  }
}
