import { connect as netConnect, isIP, type NetConnectOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { egressLookup } from './egress-agent.js';
import { deniedError, type EgressPolicy } from './egress-policy.js';
import { Http1ResponseParser, type ResponseHead } from './http1-response-parser.js';
import { PooledBody } from './pooled-body.js';
import { SlabPool } from './slab-pool.js';

export interface PooledHttpOptions {
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** No response head this long after the request was sent: the request fails. Default 300 s. */
  headersTimeoutMs?: number;
  /** No body bytes this long (while the reader wants them): the body fails. Default 300 s. */
  bodyTimeoutMs?: number;
  /** Extra TLS options for every connection (e.g. `ca` for a private CA). */
  tls?: { ca?: string | Buffer | Array<string | Buffer> };
  /** Largest response head. Default 64 KiB. */
  maxHeadBytes?: number;
  /** An idle kept-alive connection is closed after this long. Default 4 s. */
  keepAliveMs?: number;
  /** Idle connections kept per origin. Default 4. */
  maxIdlePerOrigin?: number;
  /** The read slabs (shared by every connection). Default: 64 KiB slabs, 64 kept free. */
  pool?: SlabPool;
}

export interface PooledRequest {
  method?: 'GET' | 'HEAD';
  /** Request headers; `host`, `connection`, `content-length`, `transfer-encoding` are the client's own. */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface PooledResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: PooledBody;
}

const OWN_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'te', 'upgrade', 'keep-alive']);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** An error with undici's code for the same failure, so callers map both alike. */
function coded(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** One exchange on a connection: the parser, the pending head, the body once the head is in. */
interface Exchange {
  parser: Http1ResponseParser;
  resolve(res: PooledResponse): void;
  reject(err: Error): void;
  body?: PooledBody;
  /** Bytes of a read the body paused on: fed again when it asks for more. */
  pending?: { slab: Buffer; at: number; end: number };
  /** The slab being fed: body views are lent from it. */
  slab?: Buffer;
  timer?: NodeJS.Timeout;
  reusable?: boolean;
  /** Stop listening to the request's abort signal. */
  unlisten(): void;
}

/**
 * An HTTP/1.1 client for large response bodies that reads each connection with `onread` into the
 * slabs of a SlabPool: the body's chunks are views into them (PooledBody), and a slab is read into
 * again once its views are released. Nothing is allocated per read, so a 512 MiB body leaves no
 * garbage behind for the collector (undici reads into a new buffer per read). Every connection is
 * made through the egress policy exactly like createEgressAgent's (IP literals decided before
 * dialling, names resolved by the policy's own lookup inside net/tls.connect). GET and HEAD only, no
 * request body, no pipelining; kept-alive connections are reused per origin.
 */
export class PooledHttpClient {
  readonly pool: SlabPool;
  private readonly idle = new Map<string, Socket[]>();
  private readonly open = new Set<Socket>();
  private closed = false;

  constructor(
    private readonly policy: EgressPolicy,
    private readonly options: PooledHttpOptions = {},
  ) {
    this.pool = options.pool ?? new SlabPool();
  }

  async request(url: URL | string, init: PooledRequest = {}): Promise<PooledResponse> {
    const target = typeof url === 'string' ? new URL(url) : url;
    const method = init.method ?? 'GET';
    if (this.closed) throw coded('the client is closed', 'UND_ERR_CLOSED');
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new TypeError(`${target.protocol} is not http or https`);
    if (target.username || target.password) throw new TypeError('credentials in the URL are not sent');
    const head = requestHead(method, target, init.headers ?? {});
    const aborted = () => coded('request aborted', 'UND_ERR_ABORTED');
    if (init.signal?.aborted) throw aborted();
    const socket = await this.socketFor(target, init.signal);
    if (init.signal?.aborted) {
      socket.destroy();
      throw aborted();
    }
    return this.exchange(socket, method, head, init.signal);
  }

  /** Close idle connections and refuse new requests; connections in use end with their exchange. */
  async close(): Promise<void> {
    this.closed = true;
    for (const sockets of this.idle.values()) for (const s of sockets) s.destroy();
    this.idle.clear();
  }

  private port(url: URL): number {
    return Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  }

  private async socketFor(url: URL, signal: AbortSignal | undefined): Promise<Socket> {
    const key = `${url.protocol}//${url.host}`;
    const idle = this.idle.get(key);
    while (idle && idle.length > 0) {
      const socket = idle.pop()!;
      clearTimeout((socket as SocketState)[IDLE_TIMER]);
      if (!socket.destroyed && socket.readable && socket.writable) return socket;
    }
    return this.connect(url, key, signal);
  }

  private connect(url: URL, key: string, signal: AbortSignal | undefined): Promise<Socket> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = this.port(url);
    if (isIP(host) !== 0) {
      const decision = this.policy.decide(host, host, port);
      if (!decision.allowed) return Promise.reject(deniedError(host, host, port, decision));
    }
    const lookup = egressLookup(this.policy, port);
    const onread = { buffer: () => this.pool.take(), callback: (n: number, slab: Buffer) => onRead(socket, n, slab) };
    const secure = url.protocol === 'https:';
    const socket: Socket = secure
      ? tlsConnect({ host, port, lookup, onread, ...(isIP(host) === 0 ? { servername: host } : {}), ALPNProtocols: ['http/1.1'], ...this.options.tls } as ConnectionOptions)
      : netConnect({ host, port, lookup, onread } as NetConnectOpts);
    const state = socket as SocketState;
    state[KEY] = key;
    state[CLIENT] = this;
    this.open.add(socket);
    socket.on('error', (err) => failExchange(socket, err));
    socket.on('close', () => {
      this.open.delete(socket);
      this.forgetIdle(socket);
      const exchange = state[EXCHANGE];
      if (!exchange) return;
      try {
        // A body framed by the connection's end is complete now; any other response is cut short.
        exchange.parser.closed();
        this.finishExchange(socket, exchange);
      } catch (err) {
        failExchange(socket, err as Error);
      }
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => socket.destroy(coded(`connect timeout to ${url.host}`, 'UND_ERR_CONNECT_TIMEOUT')), this.options.connectTimeoutMs ?? 10_000);
      const onAbort = () => socket.destroy(coded('request aborted', 'UND_ERR_ABORTED'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const settle = (err?: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.off('error', settle);
        if (err) reject(err);
        else resolve(socket);
      };
      socket.once('error', settle);
      socket.once(secure ? 'secureConnect' : 'connect', () => settle());
    });
  }

  private exchange(socket: Socket, method: 'GET' | 'HEAD', head: string, signal: AbortSignal | undefined): Promise<PooledResponse> {
    const state = socket as SocketState;
    return new Promise<PooledResponse>((resolve, reject) => {
      const onAbort = () => socket.destroy(coded('request aborted', 'UND_ERR_ABORTED'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const exchange: Exchange = { resolve, reject, parser: undefined as unknown as Http1ResponseParser, unlisten: () => signal?.removeEventListener('abort', onAbort) };
      exchange.parser = new Http1ResponseParser(
        {
          head: (h) => this.onHead(socket, exchange, h),
          data: (view) => {
            this.pool.lend(view, exchange.slab!);
            return exchange.body!.offer(view);
          },
          end: (reusable) => {
            exchange.reusable = reusable;
            clearTimeout(exchange.timer);
          },
        },
        { method, maxHeadBytes: this.options.maxHeadBytes ?? 64 * 1024 },
      );
      state[EXCHANGE] = exchange;
      exchange.timer = setTimeout(() => socket.destroy(coded('no response head in time', 'UND_ERR_HEADERS_TIMEOUT')), this.options.headersTimeoutMs ?? 300_000);
      socket.write(head);
    });
  }

  private onHead(socket: Socket, exchange: Exchange, head: ResponseHead): void {
    clearTimeout(exchange.timer);
    const body = new PooledBody(this.pool, {
      resume: () => resumeBody(socket, exchange),
      abort: (err) => {
        if (!exchange.parser.done) socket.destroy(err ?? coded('body abandoned', 'UND_ERR_ABORTED'));
      },
    });
    exchange.body = body;
    this.armBodyTimer(socket, exchange);
    exchange.resolve({ statusCode: head.statusCode, headers: head.headers, body });
  }

  armBodyTimer(socket: Socket, exchange: Exchange): void {
    clearTimeout(exchange.timer);
    if (exchange.parser.done) return;
    exchange.timer = setTimeout(() => socket.destroy(coded('no body bytes in time', 'UND_ERR_BODY_TIMEOUT')), this.options.bodyTimeoutMs ?? 300_000);
  }

  /** The exchange is over: keep the connection for the next request when it may be, else close it. */
  finishExchange(socket: Socket, exchange: Exchange): void {
    const state = socket as SocketState;
    state[EXCHANGE] = undefined;
    clearTimeout(exchange.timer);
    exchange.unlisten();
    exchange.body?.push(null);
    const key = state[KEY]!;
    const idle = this.idle.get(key) ?? [];
    if (!exchange.reusable || this.closed || idle.length >= (this.options.maxIdlePerOrigin ?? 4)) {
      socket.destroy();
      return;
    }
    idle.push(socket);
    this.idle.set(key, idle);
    // Read while idle (a pause may have stopped it): a close is noticed, and stray bytes end the connection.
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), this.options.keepAliveMs ?? 4000);
    timer.unref();
    state[IDLE_TIMER] = timer;
  }

  private forgetIdle(socket: Socket): void {
    const state = socket as SocketState;
    clearTimeout(state[IDLE_TIMER]);
    const idle = this.idle.get(state[KEY]!);
    const i = idle?.indexOf(socket) ?? -1;
    if (i >= 0) idle!.splice(i, 1);
  }
}

const KEY = Symbol('origin');
const CLIENT = Symbol('client');
const EXCHANGE = Symbol('exchange');
const IDLE_TIMER = Symbol('idleTimer');
type SocketState = Socket & { [KEY]?: string; [CLIENT]?: PooledHttpClient; [EXCHANGE]?: Exchange; [IDLE_TIMER]?: NodeJS.Timeout };

/** The request line and headers; a header name that is not a token or a value with CR, LF or NUL is refused. */
function requestHead(method: string, url: URL, headers: Record<string, string>): string {
  let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
    if (OWN_HEADERS.has(name.toLowerCase())) throw new TypeError(`header ${name} is set by the client`);
    if (/[\0\r\n]/.test(value)) throw new TypeError(`header ${name} has a control character`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

/** Bytes read into `slab`: through the exchange's parser; false stops reading until the body asks again. */
function onRead(socket: Socket, n: number, slab: Buffer): boolean {
  const state = socket as SocketState;
  const exchange = state[EXCHANGE];
  if (!exchange) {
    // Bytes nobody asked for (an idle connection): it cannot be trusted with the next request.
    state[CLIENT]!.pool.drop(slab);
    socket.destroy();
    return false;
  }
  return feed(socket, exchange, slab, 0, n);
}

function feed(socket: Socket, exchange: Exchange, slab: Buffer, from: number, end: number): boolean {
  const state = socket as SocketState;
  const client = state[CLIENT]!;
  const pool = client.pool;
  let result: { at: number; paused: boolean };
  try {
    exchange.slab = slab;
    result = exchange.parser.feed(slab, from, end);
  } catch (err) {
    pool.drop(slab);
    failExchange(socket, err as Error);
    return false;
  }
  if (exchange.parser.done) {
    pool.drop(slab);
    // Bytes after the response's end belong to no request: the connection is not reused.
    if (result.at < end) exchange.reusable = false;
    client.finishExchange(socket, exchange);
    return exchange.reusable === true;
  }
  // The body timeout runs only while the reader wants bytes.
  if (result.paused) clearTimeout(exchange.timer);
  else if (exchange.body) client.armBodyTimer(socket, exchange);
  if (result.paused && result.at < end) {
    exchange.pending = { slab, at: result.at, end };
    return false;
  }
  pool.drop(slab);
  return !result.paused;
}

/** The body wants more: feed what a pause left over, then read again. */
function resumeBody(socket: Socket, exchange: Exchange): void {
  const pending = exchange.pending;
  if (pending) {
    exchange.pending = undefined;
    if (!feed(socket, exchange, pending.slab, pending.at, pending.end)) return;
  }
  if (socket.destroyed || exchange.parser.done) return;
  (socket as SocketState)[CLIENT]!.armBodyTimer(socket, exchange);
  socket.resume();
}

/** The connection failed (or the response was invalid): the pending request or the body fails with it. */
function failExchange(socket: Socket, err: Error): void {
  const state = socket as SocketState;
  const exchange = state[EXCHANGE];
  state[EXCHANGE] = undefined;
  if (!socket.destroyed) socket.destroy();
  if (!exchange) return;
  clearTimeout(exchange.timer);
  exchange.unlisten();
  if (exchange.pending) state[CLIENT]!.pool.drop(exchange.pending.slab);
  exchange.pending = undefined;
  if (exchange.body) exchange.body.destroy(err);
  else exchange.reject(err);
}
