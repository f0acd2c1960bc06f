import {
  MANIFEST_ACCEPT,
  ManifestInvalidError,
  MediaType,
  RangeInvalidError,
  RuleConfigError,
  parseDigest,
  parseReference,
  parseRepositoryName,
  referenceString,
  type RegistryError,
} from '@pullthrough/oci';
import { EgressDeniedError, type EgressPolicy, type PooledHttpClient } from '@pullthrough/egress';
import type { Dispatcher } from 'undici';
import { digestHeader, errorMessage, sniffMediaType } from './answer-reading.js';
import { abandon, discard, guardBody, readBounded } from './body-streams.js';
import type { IdentityTokenProvider } from './acr-token-exchange.js';
import { CredentialsFailed, RegistryAuth } from './registry-auth.js';
import { contentLengthOf, flattenHeaders, headerOf, mediaTypeOf } from './response-headers.js';
import { createUpstreamAgent } from './upstream-agent.js';
import { nextQuery, parseReferrerIndex, parseTagList, type ReferrerPage, type TagPage } from './upstream-listing.js';
import type {
  BlobContent,
  ByteRange,
  CredentialsProvider,
  ManifestContent,
  ManifestHead,
  UpstreamAnswer,
  UpstreamDenial,
} from './upstream-answer.js';
import type { UpstreamBreaker } from './upstream-breaker.js';
import type { UpstreamRateLimit } from './upstream-rate-limit.js';
import type { UpstreamAnswerTally } from './upstream-answer-tally.js';
import { transportError, upstreamUnavailable } from './upstream-errors.js';
import { UpstreamTransport, type HttpMethod, type TransportResponse } from './upstream-transport.js';

export const DEFAULT_MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const DEFAULT_USER_AGENT = 'pullthrough';
const UNAUTHORIZED_MESSAGE = 'upstream requires authentication';
/** Statuses of a registry that does not route the referrers API (distribution 2.8 answers 404). */
const NO_REFERRERS_API = new Set([400, 404, 405, 406]);

export interface UpstreamClientOptions {
  /** host[:port], already normalized, e.g. registry-1.docker.io or 127.0.0.1:5123. */
  registry: string;
  /** Plain http, only when the operator lists this host as insecure. */
  insecure: boolean;
  credentials?: CredentialsProvider;
  /**
   * Called when the upstream refuses our credentials (a final 401): the provider forgets its cached
   * secrets, the client drops its tokens and retries once, so a rotated password works.
   */
  onCredentialsRejected?: () => void;
  /** Entra ID token for ACR upstreams reached with a managed identity (token exchange instead of basic credentials). */
  identityToken?: IdentityTokenProvider;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** No bytes for this long on headers or body: failure. Default 30 s. */
  idleTimeoutMs?: number;
  userAgent?: string;
  /** Default 4 MiB. */
  maxManifestBytes?: number;
  breaker?: UpstreamBreaker;
  /** Where this upstream's rate-limit headers are recorded (shared per registry by the pool). */
  rateLimit?: UpstreamRateLimit;
  /** Where every answer's status is counted (shared per registry by the pool, for the metrics). */
  answers?: UpstreamAnswerTally;
  /** Without `dispatcher`: the policy of the client's own agent (default: no exceptions). */
  egress?: EgressPolicy;
  /** Share connection pools (UpstreamClientPool does); a shared dispatcher is not closed by close(). */
  dispatcher?: Dispatcher;
  /** Reads blob bodies (getBlob) into pooled slabs; without it they come through `dispatcher` too. Not closed by close(). */
  blobReader?: PooledHttpClient;
}

/** Settles a streamed call's breaker outcome once its body has ended (or failed). */
interface BodySettle {
  resolve(): void;
  reject(err: Error): void;
}

type Outcome =
  | { kind: 'response'; res: TransportResponse; settle?: BodySettle }
  | { kind: 'answer'; answer: UpstreamDenial }
  | { kind: 'raise'; error: RegistryError };

/**
 * Talks to one upstream registry: manifests (HEAD/GET) and streamed blobs, with token/basic
 * auth, redirects and timeouts. Each call goes through the breaker up to the response headers.
 */
export class UpstreamClient {
  readonly registry: string;
  readonly insecure: boolean;
  readonly breaker: UpstreamBreaker | undefined;
  private readonly origin: string;
  private readonly host: string;
  private readonly maxManifestBytes: number;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly transport: UpstreamTransport;
  private readonly auth: RegistryAuth;
  private readonly onCredentialsRejected: (() => void) | undefined;

  constructor(options: UpstreamClientOptions) {
    let base: URL;
    try {
      base = new URL(`${options.insecure ? 'http' : 'https'}://${options.registry}`);
    } catch (err) {
      throw new RuleConfigError('invalid upstream registry host', { detail: { upstream: options.registry }, cause: err });
    }
    this.registry = options.registry;
    this.insecure = options.insecure;
    this.breaker = options.breaker;
    this.origin = base.origin;
    this.host = base.host;
    this.maxManifestBytes = options.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher = options.dispatcher ?? createUpstreamAgent(options);
    this.transport = new UpstreamTransport({
      upstream: this.registry,
      insecure: this.insecure,
      dispatcher: this.dispatcher,
      ...(options.blobReader ? { blobReader: options.blobReader } : {}),
      userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
      ...(options.rateLimit ? { onResponse: (headers, status) => options.rateLimit!.observe(headers, status) } : {}),
      ...(options.answers ? { onAnswer: (status) => options.answers!.record(status) } : {}),
    });
    this.onCredentialsRejected = options.credentials || options.identityToken ? options.onCredentialsRejected : undefined;
    this.auth = new RegistryAuth({
      upstream: this.registry,
      insecure: this.insecure,
      credentials: options.credentials,
      transport: this.transport,
      ...(options.identityToken ? { identityToken: options.identityToken, dispatcher: this.dispatcher } : {}),
    });
  }

  async headManifest(repository: string, reference: string): Promise<UpstreamAnswer<ManifestHead>> {
    const path = `manifests/${referenceString(parseReference(reference))}`;
    const outcome = await this.exchange('HEAD', repository, path, { accept: MANIFEST_ACCEPT });
    return this.answer(outcome, async (res) => {
      await discard(res.body);
      return { digest: digestHeader(res.headers), mediaType: mediaTypeOf(res.headers) ?? '', size: contentLengthOf(res.headers) };
    });
  }

  /** The manifest bytes as served; refuses bodies over maxManifestBytes. The caller verifies digests. */
  async getManifest(repository: string, reference: string): Promise<UpstreamAnswer<ManifestContent>> {
    const path = `manifests/${referenceString(parseReference(reference))}`;
    const outcome = await this.exchange('GET', repository, path, { accept: MANIFEST_ACCEPT });
    return this.answer(outcome, async (res) => {
      const declared = contentLengthOf(res.headers);
      const bytes =
        declared !== undefined && declared > this.maxManifestBytes
          ? undefined
          : await readBounded(res.body, this.maxManifestBytes).catch((err: unknown) => {
              throw transportError(this.registry, err);
            });
      if (bytes === undefined) {
        abandon(res.body);
        throw new ManifestInvalidError(`upstream manifest is larger than ${this.maxManifestBytes} bytes`, {
          detail: { upstream: this.registry, reason: 'manifest too large', limit: this.maxManifestBytes },
        });
      }
      const mediaType = mediaTypeOf(res.headers) ?? sniffMediaType(bytes) ?? '';
      return { bytes, mediaType, digest: digestHeader(res.headers) };
    });
  }

  /** A blob's size without its bytes (HEAD; redirects followed like GET). */
  async headBlob(repository: string, digest: string): Promise<UpstreamAnswer<{ size?: number }>> {
    const outcome = await this.exchange('HEAD', repository, `blobs/${parseDigest(digest)}`, {});
    return this.answer(outcome, async (res) => {
      await discard(res.body);
      return { size: contentLengthOf(res.headers) };
    });
  }

  /** Streams a blob (never buffered), following CDN redirects. */
  async getBlob(repository: string, digest: string, range?: ByteRange): Promise<UpstreamAnswer<BlobContent>> {
    const headers: Record<string, string> = range === undefined ? {} : { range: rangeHeader(range) };
    const outcome = await this.exchange('GET', repository, `blobs/${parseDigest(digest)}`, headers, true);
    const settle = outcome.kind === 'response' ? outcome.settle : undefined;
    try {
      return await this.answer(outcome, async (res) => {
        const size = contentLengthOf(res.headers);
        // The breaker call settles with the body: a reset, stall or truncation is a failure.
        const body = guardBody(this.registry, res.body, {
          ...(size !== undefined ? { expectedBytes: size } : {}),
          ...(settle ? { onFailure: (err: Error) => settle.reject(err), onEnd: () => settle.resolve() } : {}),
        });
        return { body, size, status: res.statusCode };
      });
    } finally {
      // Not a streamed body after all (an answer or an error): the call is settled by its status.
      if (settle && !(outcome.kind === 'response' && outcome.res.statusCode >= 200 && outcome.res.statusCode < 300)) settle.resolve();
    }
  }

  /**
   * One page of `tags/list` (`n`/`last` or the query of the previous page's Link). Tags that are not
   * valid tags are dropped; a body that is not a tag list is an upstream failure.
   */
  async listTags(repository: string, query: URLSearchParams = new URLSearchParams()): Promise<UpstreamAnswer<TagPage>> {
    const repo = parseRepositoryName(repository);
    const path = `/v2/${repo}/tags/list`;
    const outcome = await this.exchange('GET', repo, `tags/list${queryString(query)}`, { accept: 'application/json' });
    return this.answer(outcome, async (res) => {
      const tags = parseTagList(await this.readListing(res));
      if (tags === undefined) throw upstreamUnavailable(this.registry, 'tags/list answered something that is not a tag list', { status: res.statusCode });
      const next = nextQuery(res.headers, path);
      return { tags, ...(next ? { next } : {}) };
    });
  }

  /**
   * One page of the OCI 1.1 referrers API for `digest`. A registry without that API (a 404, 400,
   * 405 or 406, or a 200 that is not an image index) answers not-found: the caller falls back to
   * the `<alg>-<hex>` tag schema.
   */
  async listReferrers(repository: string, digest: string, query: URLSearchParams = new URLSearchParams()): Promise<UpstreamAnswer<ReferrerPage>> {
    const repo = parseRepositoryName(repository);
    const path = `/v2/${repo}/referrers/${parseDigest(digest)}`;
    const outcome = await this.exchange('GET', repo, `referrers/${parseDigest(digest)}${queryString(query)}`, { accept: MediaType.OciIndex });
    if (outcome.kind === 'response' && NO_REFERRERS_API.has(outcome.res.statusCode)) {
      await discard(outcome.res.body);
      return { kind: 'not-found' };
    }
    const answer = await this.answer(outcome, async (res) => {
      const manifests = parseReferrerIndex(await this.readListing(res), res.headers);
      if (manifests === undefined) return undefined;
      const filtersApplied = (headerOf(res.headers, 'oci-filters-applied') ?? '').split(',').map((f) => f.trim().toLowerCase()).filter(Boolean);
      const next = nextQuery(res.headers, path);
      return { manifests, filtersApplied, ...(next ? { next } : {}) };
    });
    if (answer.kind !== 'ok') return answer;
    return answer.value === undefined ? { kind: 'not-found' } : { ...answer, value: answer.value };
  }

  /** A listing body, bounded like a manifest. */
  private async readListing(res: TransportResponse): Promise<Buffer> {
    const bytes = await readBounded(res.body, this.maxManifestBytes).catch((err: unknown) => {
      throw transportError(this.registry, err);
    });
    if (bytes === undefined) throw upstreamUnavailable(this.registry, `listing larger than ${this.maxManifestBytes} bytes`, { status: res.statusCode });
    return bytes;
  }

  /** Drop cached tokens; the next 401 fetches a new one (and looks the credentials up again). */
  invalidateCredentials(): void {
    this.auth.invalidate();
  }

  /** Close the connection pools, unless they were lent to us. */
  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /** `streamed`: the breaker call lasts until the body ends, so mid-stream failures count as failures. */
  private async exchange(method: HttpMethod, repository: string, path: string, headers: Record<string, string>, streamed = false): Promise<Outcome> {
    const repo = parseRepositoryName(repository);
    const url = new URL(`${this.origin}/v2/${repo}/${path}`);
    const scope = `repository:${repo}:pull`;
    // A streamed body is a blob's: read into pooled slabs when the transport has a blob reader.
    const attempt = (): Promise<Outcome> => this.attemptRefreshing(method, url, scope, headers, streamed);
    if (!this.breaker) return attempt();
    if (!streamed) return this.breaker.fire(attempt);
    return this.breaker.fireStreamed<Outcome>(async () => {
      const outcome = await attempt();
      if (outcome.kind !== 'response') return { value: outcome, settled: Promise.resolve() };
      let settle!: BodySettle;
      const settled = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      return { value: { ...outcome, settle }, settled };
    });
  }

  /** One more attempt with freshly looked-up credentials after the upstream refused ours. */
  private async attemptRefreshing(method: HttpMethod, url: URL, scope: string, headers: Record<string, string>, pooled: boolean): Promise<Outcome> {
    const first = await this.attempt(method, url, scope, headers, pooled);
    const refused = (first.kind === 'answer' && first.answer.kind === 'unauthorized') || (first.kind === 'response' && first.res.statusCode === 401);
    if (!refused || this.onCredentialsRejected === undefined) return first;
    if (first.kind === 'response') await discard(first.res.body);
    this.onCredentialsRejected();
    this.auth.invalidate();
    return this.attempt(method, url, scope, headers, pooled);
  }

  /** Anonymous (or cached token) first; one retry after a 401 with a fresh token or basic credentials. */
  private async attempt(method: HttpMethod, url: URL, scope: string, headers: Record<string, string>, pooled: boolean): Promise<Outcome> {
    try {
      const first = await this.auth.initial(scope);
      let sent = first.authorization;
      let fresh = first.fresh;
      for (;;) {
        const outgoing = sent === undefined ? headers : { ...headers, authorization: sent };
        const res = await this.transport.send(method, url, outgoing, this.host, pooled);
        if (res.statusCode !== 401 || !res.trusted || fresh) return { kind: 'response', res };
        const message = await errorMessage(res.body, UNAUTHORIZED_MESSAGE);
        const step = await this.auth.challenge(res.headers['www-authenticate'], scope, sent);
        if (step === undefined) return { kind: 'answer', answer: { kind: 'unauthorized', message } };
        if (step.kind === 'answer') return step;
        sent = step.authorization;
        fresh = true;
      }
    } catch (err) {
      if (err instanceof CredentialsFailed) return { kind: 'raise', error: err.error };
      // The operator's policy refused a hop (registry, realm or redirect): not the upstream's failure.
      if (err instanceof EgressDeniedError) return { kind: 'raise', error: err };
      throw err;
    }
  }

  /** Outside the breaker: statuses become answers; anything unexpected throws without counting as a failure. */
  private async answer<T>(outcome: Outcome, onOk: (res: TransportResponse) => Promise<T>): Promise<UpstreamAnswer<T>> {
    if (outcome.kind === 'raise') throw outcome.error;
    if (outcome.kind === 'answer') return outcome.answer;
    const { res } = outcome;
    const status = res.statusCode;
    if (status >= 200 && status < 300) return { kind: 'ok', value: await onOk(res), headers: flattenHeaders(res.headers) };
    if (status === 404) {
      await discard(res.body);
      return { kind: 'not-found' };
    }
    if (status === 401) return { kind: 'unauthorized', message: await errorMessage(res.body, UNAUTHORIZED_MESSAGE) };
    if (status === 403) return { kind: 'forbidden', message: await errorMessage(res.body, 'upstream denied access') };
    await discard(res.body);
    const detail = { upstream: this.registry, status, reason: `unexpected status ${status}` };
    if (status === 416) throw new RangeInvalidError('upstream cannot satisfy the requested range', { detail });
    throw upstreamUnavailable(this.registry, detail.reason, { status });
  }
}

function queryString(query: URLSearchParams): string {
  const text = query.toString();
  return text === '' ? '' : `?${text}`;
}

function rangeHeader(range: ByteRange): string {
  const { start, end } = range;
  const valid = Number.isSafeInteger(start) && start >= 0 && (end === undefined || (Number.isSafeInteger(end) && end >= start));
  if (!valid) throw new RangeInvalidError('invalid byte range', { detail: { start, end } });
  return `bytes=${start}-${end ?? ''}`;
}
