import { Agent, request, type Dispatcher } from 'undici';
import { apiError, networkError } from './api-error.js';
import type { AdminSettings } from './admin-settings.js';
import { ENV } from './admin-settings.js';
import type { Output } from './output.js';

export interface ApiAnswer {
  status: number;
  /** The parsed JSON body (undefined for an empty or non-JSON body). */
  body: unknown;
  text: string;
  contentType: string;
  /** `Retry-After` (a 503 or 429 says when to come back). */
  retryAfter?: string;
}

export interface CallOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Give up after this long (default: the client's timeout). */
  timeoutMs?: number;
}

const API = '/api/v1';

/**
 * The admin API over HTTP(S): bearer token, JSON in and out, a non-2xx answer thrown as the
 * CliError its status means. The token goes only into the Authorization header: never into a
 * URL, a message or a `--verbose` line.
 */
export class AdminClient {
  private readonly dispatcher: Dispatcher;

  constructor(
    private readonly settings: AdminSettings,
    private readonly out: Output,
    private readonly options: { verbose: boolean; timeoutMs: number },
  ) {
    out.redact(settings.token);
    this.dispatcher = new Agent({ connect: { ...(settings.ca ? { ca: settings.ca } : {}), rejectUnauthorized: !settings.insecure }, connectTimeout: Math.min(options.timeoutMs, 10_000) });
  }

  /** `path` under /api/v1, e.g. `/cache-rules/dockerhub`; path segments must already be encoded. */
  url(path: string, query: CallOptions['query'] = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
    const qs = params.toString();
    return `${this.settings.url}${API}${path}${qs ? `?${qs}` : ''}`;
  }

  /** Send; resolve with any answer (errors included). Rejects with exit 5 when there is no answer. */
  async send(method: string, path: string, options: CallOptions = {}): Promise<ApiAnswer> {
    const url = this.url(path, options.query);
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
    if (this.settings.token !== undefined) headers.authorization = `Bearer ${this.settings.token}`;
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] = 'application/json';
    const started = Date.now();
    if (this.options.verbose) {
      this.out.error(`> ${method} ${url}`);
      if (headers.authorization) this.out.error('> authorization: Bearer [redacted]');
      if (body !== undefined) this.out.error(`> ${body}`);
    }
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    try {
      const res = await request(url, {
        method: method as Dispatcher.HttpMethod,
        headers,
        ...(body !== undefined ? { body } : {}),
        dispatcher: this.dispatcher,
        signal: AbortSignal.timeout(timeoutMs),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await res.body.text();
      const contentType = String(res.headers['content-type'] ?? '');
      let parsed: unknown;
      if (/json/i.test(contentType) && text !== '') {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
      }
      if (this.options.verbose) this.out.error(`< ${res.statusCode} ${contentType || '(no body)'} (${Date.now() - started} ms)`);
      const retryAfter = res.headers['retry-after'];
      return { status: res.statusCode, body: parsed, text, contentType, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
    } catch (err) {
      if (this.options.verbose) this.out.error(`< no answer (${Date.now() - started} ms)`);
      throw networkError(`${this.settings.url}${API}${path}`, err);
    }
  }

  /** Send; resolve with a 2xx answer, or reject with the CliError the status means. */
  async call(method: string, path: string, options: CallOptions = {}): Promise<ApiAnswer> {
    const answer = await this.send(method, path, options);
    if (answer.status >= 200 && answer.status < 300) return answer;
    let hint: string | undefined;
    if (answer.status === 401 && this.settings.token === undefined) hint = `no token was sent: give --token, set ${ENV.token}, or put "token" in the config file`;
    else if (answer.retryAfter !== undefined) hint = `the server asks to retry after ${answer.retryAfter} s`;
    throw apiError(answer.status, answer.body, answer.text, hint);
  }

  async close(): Promise<void> {
    await this.dispatcher.destroy().catch(() => undefined);
  }
}

/** Encode one path segment (a rule, credential set or webhook name). */
export const segment = (name: string) => encodeURIComponent(name);
