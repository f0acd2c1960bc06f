import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { listen } from '@pullthrough/operations';
import type { RequestObservation } from './metrics/http-metrics.js';
import { httpTelemetry, watchRoutes } from './http-telemetry.js';

const LIMITS = { headersTimeoutMs: 2000, requestTimeoutMs: 2000, idleTimeoutMs: 3000, maxConnections: 10 };

let server: Server;
let url: string;
const observed: RequestObservation[] = [];
/** Per request the route handler saw: whether `route` was an own property of the request, and what `req.route` read. */
const seen: { own: boolean; path: unknown }[] = [];

beforeAll(async () => {
  const app = express();
  watchRoutes(app);
  app.use(httpTelemetry('admin', { observe: (o) => observed.push(o) }));
  const items = express.Router();
  items.get('/:id', (req, res) => {
    seen.push({ own: Object.prototype.hasOwnProperty.call(req, 'route'), path: (req.route as { path?: unknown } | undefined)?.path });
    res.json({ id: req.params.id });
  });
  items.get('/:id/fail', () => {
    throw new Error('handler failed');
  });
  app.use('/api/Items', items);
  app.use((_req, res) => void res.status(404).end());
  app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => void res.status(500).end());
  server = await listen(app, '127.0.0.1', 0, LIMITS);
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** The observation of the request that finished last (the 'finish' listener runs right after the response is sent). */
async function lastObservation(count: number): Promise<RequestObservation> {
  const until = Date.now() + 5000;
  while (observed.length < count) {
    if (Date.now() > until) throw new Error('no observation');
    await new Promise((r) => setTimeout(r, 5));
  }
  return observed[count - 1]!;
}

describe('watchRoutes: route labels from one accessor on the app\'s request prototype', () => {
  test('a matched route is labelled by its mount path (lower case) and pattern, and defines nothing on the request', async () => {
    for (const [i, path] of ['/api/Items/a1', '/API/items/b2', '/api/items/c3'].entries()) {
      const res = await fetch(`${url}${path}`);
      expect(res.status).toBe(200);
      expect((await lastObservation(i + 1)).route).toBe('/api/items/:id');
    }
    // Express set `req.route` (the handler reads it back), through the prototype's accessor: never an own property.
    expect(seen).toEqual([
      { own: false, path: '/:id' },
      { own: false, path: '/:id' },
      { own: false, path: '/:id' },
    ]);
  });

  test('a route whose handler fails keeps its label; an unknown path is unmatched', async () => {
    const before = observed.length;
    expect((await fetch(`${url}/api/items/x/fail`)).status).toBe(500);
    expect((await lastObservation(before + 1)).route).toBe('/api/items/:id/fail');
    expect((await fetch(`${url}/api/nothing`)).status).toBe(404);
    expect((await lastObservation(before + 2)).route).toBe('unmatched');
  });
});
