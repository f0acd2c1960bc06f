import { Counter, Histogram, type Registry } from 'prom-client';

/** One finished request, as the HTTP telemetry middleware saw it. Every field is bounded (no names, digests or paths). */
export interface RequestObservation {
  plane: 'data' | 'admin';
  /** Route pattern (`/v2/:name/blobs/:digest`), `unmatched` when no route took the request. */
  route: string;
  method: string;
  status: number;
  /** X-Cache: hit, miss, revalidated, stale, local; `none` when not set. */
  cache: string;
  seconds: number;
  /** Body bytes sent (Content-Length of a finished response), 0 when unknown. */
  bytes: number;
}

export interface HttpMetrics {
  observe(o: RequestObservation): void;
}

const METHODS = new Set(['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE', 'OPTIONS']);
const CACHE = new Set(['hit', 'miss', 'revalidated', 'stale', 'local']);
/** Latency buckets from a manifest hit (ms) to a large layer streamed from a slow upstream (minutes). */
const BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** What a data-plane body was: a manifest or a blob (the rest are not counted as served content). */
function contentKind(route: string): 'manifest' | 'blob' | undefined {
  if (route === '/v2/:name/manifests/:reference') return 'manifest';
  if (route === '/v2/:name/blobs/:digest') return 'blob';
  return undefined;
}

/**
 * Request latency by plane, route, method, status and cache status, and the manifest and blob bytes
 * served by where they came from: `upstream` for a miss (streamed while fetched, or from a fetch it
 * joined), `local` for everything served from storage (hit, revalidated, stale, local repositories).
 */
export function httpMetrics(registry: Registry): HttpMetrics {
  const duration = new Histogram({
    name: 'pullthrough_http_request_duration_seconds',
    help: 'HTTP requests on the data and admin ports, from arrival to the last byte sent, by plane, route pattern, method, status and cache status (X-Cache)',
    labelNames: ['plane', 'route', 'method', 'status', 'cache'],
    buckets: BUCKETS,
    registers: [registry],
  });
  const served = new Counter({
    name: 'pullthrough_served_bytes_total',
    help: 'Manifest and blob bytes sent to clients (finished GET responses), by content kind and source: local storage or the upstream (a miss)',
    labelNames: ['kind', 'source'],
    registers: [registry],
  });
  for (const kind of ['manifest', 'blob']) for (const source of ['local', 'upstream']) served.inc({ kind, source }, 0);
  return {
    observe(o) {
      const method = METHODS.has(o.method) ? o.method : 'other';
      const cache = CACHE.has(o.cache) ? o.cache : 'none';
      duration.observe({ plane: o.plane, route: o.route, method, status: String(o.status), cache }, o.seconds);
      const kind = o.plane === 'data' && method === 'GET' && o.status >= 200 && o.status < 300 ? contentKind(o.route) : undefined;
      if (kind && cache !== 'none' && o.bytes > 0) served.inc({ kind, source: cache === 'miss' ? 'upstream' : 'local' }, o.bytes);
    },
  };
}
