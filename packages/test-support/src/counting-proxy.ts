import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { forwardWithFault, type BodyFault } from './body-faults.js';
import { ByteRate } from './byte-rate.js';
import { closeServer, listenOnLoopback } from './http-listen.js';
import { classifyRequest, type RequestKind } from './request-kind.js';

export interface ProxiedRequest {
  method: string;
  /** The request target as received: path and query. */
  path: string;
  /** The status sent to the client; 0 while the upstream has not answered yet. */
  status: number;
  kind: RequestKind;
  repository?: string;
  reference?: string;
  /** Answered by the fault hook instead of the registry. */
  faulted: boolean;
  /** The client's `User-Agent` (empty when it sent none): tells the cache's fetches from a client's own. */
  userAgent: string;
  /** The client's `Range` header, when it sent one (forwarded unless `ignoreRange`). */
  range?: string;
  /** When the request arrived (epoch ms). */
  receivedAt: number;
  /** When the first body byte was passed on to the client (epoch ms); undefined while none was. */
  firstByteAt?: number;
  /** When the whole response was handed to the client's socket (epoch ms); undefined while it was not (or never, if cut). */
  endedAt?: number;
  /** Response body bytes passed on so far. */
  bytes: number;
}

export type RequestFilter = Partial<Pick<ProxiedRequest, 'method' | 'kind' | 'repository' | 'reference' | 'status'>>;

/** Answer instead of forwarding: e.g. `{ status: 503, headers: { 'Retry-After': '1' } }`. */
export interface StatusFault {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export type { BodyFault };

/** A status answered instead of forwarding, or a forwarded response whose body is damaged (reset, truncate, trickle, corrupt). */
export type Fault = StatusFault | BodyFault;

/** A fixed fault for every request, or a function choosing per request (null: forward it). */
export type FaultRule = Fault | ((request: ProxiedRequest) => Fault | null);

/** A fault for the requests that match `filter` (e.g. `{ kind: 'blob', method: 'GET' }`); others are forwarded. */
export function faultFor(filter: RequestFilter, fault: Fault): FaultRule {
  return (r) => (Object.entries(filter).every(([k, v]) => v === undefined || r[k as keyof ProxiedRequest] === v) ? fault : null);
}

export interface CountingProxyOptions {
  /** Wait this long before forwarding (or faulting) each request. */
  delayMs?: number;
  /** Response bodies share a link of this many bytes per second (0: unlimited): a bandwidth-limited upstream. */
  bytesPerSecond?: number;
}

export interface CountingProxy {
  /** `127.0.0.1:<port>` */
  readonly host: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Every request in arrival order (cleared in place by reset()). */
  readonly requests: readonly ProxiedRequest[];
  /** Per-request delay; may be changed at any time. */
  delayMs: number;
  /** The link's bandwidth for response bodies (0: unlimited); may be changed at any time, applies to bodies forwarded after. */
  bytesPerSecond: number;
  /** Forward requests without their Range header (the registry answers 200 with the whole blob): an upstream that ignores Range. */
  ignoreRange: boolean;
  count(filter?: RequestFilter): number;
  reset(): void;
  /** From now on answer requests with this fault instead of forwarding them (null: forward again). */
  setFault(fault: FaultRule | null): void;
  /** Stop listening and drop every connection: clients get connection refused. */
  refuseConnections(): Promise<void>;
  /** Listen again on the same port. */
  acceptConnections(): Promise<void>;
  stop(): Promise<void>;
}

// Hop-by-hop headers belong to one connection; everything else passes through untouched.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection']);

/**
 * A reverse proxy on loopback in front of `targetUrl` that records every request and injects
 * faults: statuses with headers (503/429 + Retry-After), connection refused, and damaged bodies
 * (reset, truncation, trickle, one flipped byte), for every request or per kind. Bodies stream
 * both ways; headers pass unchanged except Host (and hop-by-hop ones).
 */
export async function startCountingProxy(targetUrl: string, options: CountingProxyOptions = {}): Promise<CountingProxy> {
  const target = new URL(targetUrl);
  const agent = new Agent({ keepAlive: true });
  const requests: ProxiedRequest[] = [];
  if (target.protocol !== 'http:') throw new Error(`counting proxy: only http:// targets are supported, got ${targetUrl}`);
  let fault: FaultRule | null = null;
  const server = createServer((req, res) => void handle(req, res));
  const port = await listenOnLoopback(server);
  const link = new ByteRate(options.bytesPerSecond ?? 0);

  const proxy: CountingProxy = {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    delayMs: options.delayMs ?? 0,
    ignoreRange: false,
    get bytesPerSecond() {
      return link.bytesPerSecond;
    },
    set bytesPerSecond(value: number) {
      link.bytesPerSecond = value;
    },
    count: (filter = {}) =>
      requests.filter((r) => Object.entries(filter).every(([k, v]) => v === undefined || r[k as keyof ProxiedRequest] === v)).length,
    reset: () => void requests.splice(0),
    setFault: (f) => {
      fault = f;
    },
    refuseConnections: () => closeServer(server),
    acceptConnections: () =>
      new Promise<void>((resolve, reject) => {
        if (server.listening) return resolve();
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.removeListener('error', reject);
          resolve();
        });
      }),
    stop: async () => {
      await closeServer(server);
      agent.destroy();
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    const record: ProxiedRequest = { method: req.method ?? 'GET', path, status: 0, faulted: false, userAgent: req.headers['user-agent'] ?? '', ...(req.headers.range !== undefined ? { range: req.headers.range } : {}), receivedAt: Date.now(), bytes: 0, ...classifyRequest(path) };
    requests.push(record);
    const activeFault = typeof fault === 'function' ? fault(record) : fault;
    if (proxy.delayMs > 0) await new Promise((r) => setTimeout(r, proxy.delayMs));
    if (activeFault && 'status' in activeFault) {
      req.resume();
      record.status = activeFault.status;
      record.faulted = true;
      res.writeHead(activeFault.status, activeFault.headers);
      res.end(activeFault.body ?? '');
      return;
    }
    const upstream = httpRequest({
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path,
      agent,
      headers: rewriteHost(req.rawHeaders, target.host, proxy.ignoreRange),
    });
    upstream.on('response', (upstreamRes) => {
      record.status = upstreamRes.statusCode ?? 0;
      res.writeHead(record.status, upstreamRes.statusMessage, passThrough(upstreamRes.rawHeaders));
      res.on('finish', () => (record.endedAt = Date.now()));
      const meter = (chunk: Buffer) => {
        record.firstByteAt ??= Date.now();
        record.bytes += chunk.length;
      };
      if (activeFault) {
        record.faulted = true;
        upstreamRes.on('data', meter);
        void forwardWithFault(upstreamRes, res, activeFault);
      } else {
        const paced = link.throttle();
        paced.on('data', meter);
        pipeline(upstreamRes, paced, res, () => undefined);
      }
    });
    upstream.on('error', () => {
      if (res.headersSent) return void res.destroy();
      record.status = 502;
      res.writeHead(502, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'counting proxy: upstream connection failed' }] }));
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    // pipe, not pipeline: a failed upstream must not destroy the client's socket before the 502.
    req.pipe(upstream);
  }

  return proxy;
}

function passThrough(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

function rewriteHost(raw: string[], host: string, dropRange = false): string[] {
  const out = passThrough(raw);
  for (let i = 0; i < out.length; i += 2) if (out[i]!.toLowerCase() === 'host') out[i + 1] = host;
  if (!dropRange) return out;
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (out[i]!.toLowerCase() !== 'range') kept.push(out[i]!, out[i + 1]!);
  return kept;
}
