import { connect as netConnect, isIP, type NetConnectOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { egressLookup } from './egress-agent.js';
import { deniedError, type EgressPolicy } from './egress-policy.js';
import { requestHead } from './http1-request-head.js';
import { Http1ResponseParser, type ResponseHead } from './http1-response-parser.js';
import { PooledBody } from './pooled-body.js';
import { SlabPool, SlabReads } from './slab-pool.js';

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
  /**
   * Reads not fed yet, in order: the rest of the read the body paused on, and whatever arrives while it
   * is paused (a TLS socket delivers every record it already decrypted even after its callback said
   * stop). Fed when the body asks for more.
   */
  queue: Array<{ slab: Buffer; at: number; end: number }>;
  /** The body asked to pause: new reads wait in `queue`. */
  paused: boolean;
  /** The connection ended while reads were queued: its end is handled once they are fed. */
  ended: boolean;
  /** The slab being fed: body views are lent from it. */
  slab?: Buffer;
  timer?: NodeJS.Timeout;
  /** The body timer, once made (refreshed per read rather than made again). */
  bodyTimer?: NodeJS.Timeout;
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
    if (method !== 'GET' && method !== 'HEAD') throw new TypeError(`method ${String(method).slice(0, 20)} is not GET or HEAD`);
    if (this.closed) throw coded('the client is closed', 'UND_ERR_CLOSED');
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new TypeError(`${target.protocol} is not http or https`);
    if (target.username || target.password) throw new TypeError('credentials in the URL are not sent');
    if (target.port === '0') throw new TypeError('port 0 is not a port to connect to');
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
      if (idle.length === 0) this.idle.delete(key);
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
    // The socket's reads share a slab while 16 KiB or more of it is left (SlabReads).
    const reads = new SlabReads(this.pool);
    const onread = {
      buffer: () => reads.next(),
      callback: (n: number, read: Buffer) => {
        reads.filled(read, n);
        return onRead(socket, n, read);
      },
    };
    const secure = url.protocol === 'https:';
    const socket: Socket = secure
      ? // Only `ca` is taken from the options: nothing may loosen verification or replace the policy's lookup.
        tlsConnect({ ...(this.options.tls?.ca !== undefined ? { ca: this.options.tls.ca } : {}), host, port, lookup, onread, ...(isIP(host) === 0 ? { servername: host } : {}), ALPNProtocols: ['http/1.1'], rejectUnauthorized: true } as ConnectionOptions)
      : netConnect({ host, port, lookup, onread } as NetConnectOpts);
    const state = socket as SocketState;
    state[KEY] = key;
    state[CLIENT] = this;
    socket.on('error', (err) => {
      // Reads still queued behind a pause may hold the rest of the response: fed first, then the end decides.
      const exchange = state[EXCHANGE];
      if (exchange?.body && exchange.queue.length > 0) exchange.ended = true;
      else failExchange(socket, err);
    });
    socket.on('close', () => {
      reads.close();
      this.forgetIdle(socket);
      const exchange = state[EXCHANGE];
      if (!exchange) return;
      // Reads still queued come first: the end is handled after them.
      if (exchange.queue.length > 0) exchange.ended = true;
      else endOfConnection(socket, exchange);
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => settle(destroyWith(socket, coded(`connect timeout to ${url.host}`, 'UND_ERR_CONNECT_TIMEOUT'))), this.options.connectTimeoutMs ?? 10_000);
      const onAbort = () => settle(destroyWith(socket, coded('request aborted', 'UND_ERR_ABORTED')));
      signal?.addEventListener('abort', onAbort, { once: true });
      let settled = false;
      const settle = (err?: Error) => {
        if (settled) return;
        settled = true;
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
      const onAbort = () => failExchange(socket, coded('request aborted', 'UND_ERR_ABORTED'));
      signal?.addEventListener('abort', onAbort, { once: true });
      const exchange: Exchange = { resolve, reject, parser: undefined as unknown as Http1ResponseParser, queue: [], paused: false, ended: false, unlisten: () => signal?.removeEventListener('abort', onAbort) };
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
      exchange.timer = setTimeout(() => failExchange(socket, coded('no response head in time', 'UND_ERR_HEADERS_TIMEOUT')), this.options.headersTimeoutMs ?? 300_000);
      socket.write(head);
    });
  }

  private onHead(socket: Socket, exchange: Exchange, head: ResponseHead): void {
    clearTimeout(exchange.timer);
    const body = new PooledBody(this.pool, {
      resume: () => resumeBody(socket, exchange),
      abort: (err) => {
        if (!exchange.parser.done) failExchange(socket, err ?? coded('body abandoned', 'UND_ERR_ABORTED'));
      },
    });
    exchange.body = body;
    this.armBodyTimer(socket, exchange);
    exchange.resolve({ statusCode: head.statusCode, headers: head.headers, body });
  }

  armBodyTimer(socket: Socket, exchange: Exchange): void {
    if (exchange.parser.done) return clearTimeout(exchange.timer);
    if (exchange.bodyTimer && exchange.timer === exchange.bodyTimer) {
      exchange.timer.refresh();
      return;
    }
    clearTimeout(exchange.timer);
    exchange.timer = exchange.bodyTimer = setTimeout(() => failExchange(socket, coded('no body bytes in time', 'UND_ERR_BODY_TIMEOUT')), this.options.bodyTimeoutMs ?? 300_000);
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
    if (!exchange.reusable || this.closed || socket.destroyed || idle.length >= (this.options.maxIdlePerOrigin ?? 4)) {
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
    if (idle?.length === 0) this.idle.delete(state[KEY]!);
  }
}

const KEY = Symbol('origin');
const CLIENT = Symbol('client');
const EXCHANGE = Symbol('exchange');
const IDLE_TIMER = Symbol('idleTimer');
type SocketState = Socket & { [KEY]?: string; [CLIENT]?: PooledHttpClient; [EXCHANGE]?: Exchange; [IDLE_TIMER]?: NodeJS.Timeout };


/** Bytes read into `slab`: through the exchange's parser (or queued behind a pause); false stops reading. */
function onRead(socket: Socket, n: number, slab: Buffer): boolean {
  const state = socket as SocketState;
  const exchange = state[EXCHANGE];
  if (!exchange) {
    // Bytes nobody asked for (an idle connection): it cannot be trusted with the next request.
    state[CLIENT]!.pool.drop(slab);
    socket.destroy();
    return false;
  }
  if (exchange.paused || exchange.queue.length > 0) {
    exchange.queue.push({ slab, at: 0, end: n });
    return false;
  }
  return feed(socket, exchange, slab, 0, n);
}

/** Feed `slab[from, end)` to the parser: true when reading may go on. A pause queues the rest first in line. */
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
    if (result.at < end || exchange.queue.length > 0) exchange.reusable = false;
    client.finishExchange(socket, exchange);
    return exchange.reusable === true;
  }
  if (!result.paused) {
    pool.drop(slab);
    if (exchange.body) client.armBodyTimer(socket, exchange);
    return true;
  }
  // The body timeout runs only while the reader wants bytes (a cleared timer cannot be refreshed: armBodyTimer makes a new one).
  exchange.paused = true;
  clearTimeout(exchange.timer);
  exchange.bodyTimer = undefined;
  if (result.at < end) exchange.queue.unshift({ slab, at: result.at, end });
  else pool.drop(slab);
  return false;
}

/** The body wants more: feed the queued reads in order, then read again (or end, if the connection did). */
function resumeBody(socket: Socket, exchange: Exchange): void {
  if (!exchange.paused) return;
  exchange.paused = false;
  while (exchange.queue.length > 0) {
    const next = exchange.queue.shift()!;
    if (!feed(socket, exchange, next.slab, next.at, next.end)) {
      // Paused again, done, or failed: whatever is still queued waits, or was dropped with the exchange.
      if (exchange.parser.done) dropQueued(socket, exchange);
      return;
    }
    if ((socket as SocketState)[EXCHANGE] !== exchange) return;
  }
  if (exchange.ended) return endOfConnection(socket, exchange);
  if (socket.destroyed || exchange.parser.done) return;
  (socket as SocketState)[CLIENT]!.armBodyTimer(socket, exchange);
  socket.resume();
}

/** The connection ended and every read was fed: a body framed by the end is complete, any other response is cut short. */
function endOfConnection(socket: Socket, exchange: Exchange): void {
  const state = socket as SocketState;
  try {
    exchange.parser.closed();
    if (state[EXCHANGE] === exchange) state[CLIENT]!.finishExchange(socket, exchange);
  } catch (err) {
    failExchange(socket, err as Error);
  }
}

/** Give back the slabs of queued reads that will not be fed. */
function dropQueued(socket: Socket, exchange: Exchange): void {
  const pool = (socket as SocketState)[CLIENT]!.pool;
  for (const { slab } of exchange.queue.splice(0)) pool.drop(slab);
}

/** Destroy `socket` (its 'error' then fails the exchange) and return the error. */
function destroyWith(socket: Socket, err: Error): Error {
  socket.destroy(err);
  return err;
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
  dropQueued(socket, exchange);
  if (exchange.body) exchange.body.destroy(err);
  else exchange.reject(err);
}
