import type { RequestListener } from 'node:http';
import type { Registry } from 'prom-client';
import { readinessStatusCode, type ReadinessReport } from '@pullthrough/operations';

const json = (status: number, body: unknown) => ({ status, type: 'application/json', body: JSON.stringify(body) });

/**
 * The hydrator's HTTP surface, GET only: `/healthz` (the process answers), `/readyz` (storage and
 * Redis answer; without Redis a hydrator can do nothing, so Redis down is not ready) and `/metrics`.
 */
export function probeRoutes(readiness: () => Promise<ReadinessReport>, metrics: Registry): RequestListener {
  const answer = async (method: string | undefined, path: string) => {
    if (method !== 'GET' && method !== 'HEAD') return json(405, { error: 'method not allowed' });
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      const report = await readiness();
      return json(readinessStatusCode(report), report);
    }
    if (path === '/metrics') return { status: 200, type: metrics.contentType, body: await metrics.metrics() };
    return json(404, { error: 'not found' });
  };
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    answer(req.method, path)
      .catch((err: unknown) => json(500, { error: (err as Error).message }))
      .then(({ status, type, body }) => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
        res.end(req.method === 'HEAD' ? undefined : body);
      });
  };
}
