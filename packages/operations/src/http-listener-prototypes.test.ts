import { IncomingMessage, ServerResponse, type IncomingMessage as Req, type RequestListener, type Server, type ServerResponse as Res } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { listen, type ListenerLimits } from './http-listener.js';

const LIMITS: ListenerLimits = { headersTimeoutMs: 2000, requestTimeoutMs: 2000, idleTimeoutMs: 3000, maxConnections: 10 };

const servers: Server[] = [];

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});

async function serve(listener: RequestListener): Promise<string> {
  const server = await listen(listener, '127.0.0.1', 0, LIMITS);
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * `app` behind a listener that records, for each request and response as node made them (before express
 * sees them), the prototype next to node's own in its chain: the app's, when they were born with it.
 */
function recording(app: express.Express, born: { request: unknown; response: unknown }[]): RequestListener {
  const appPrototype = (o: object, own: object): unknown => {
    let p: unknown = Object.getPrototypeOf(o);
    while (p && p !== app.request && p !== app.response && p !== own) p = Object.getPrototypeOf(p);
    return p;
  };
  const listener = (req: Req, res: Res) => {
    born.push({ request: appPrototype(req, IncomingMessage.prototype), response: appPrototype(res, ServerResponse.prototype) });
    app(req, res);
  };
  return Object.assign(listener, { request: app.request, response: app.response });
}

describe('listen(): requests and responses are born with an express app\'s prototypes', () => {
  test('an express app gets objects that already have its prototypes, and everything express adds works on them', async () => {
    const app = express();
    app.use(express.json());
    app.post('/echo/:name', (req, res) => {
      res.status(201).set('X-Seen', req.get('x-test') ?? 'none').json({ name: req.params.name, body: req.body as unknown, ip: req.ip, path: req.path });
    });
    const born: { request: unknown; response: unknown }[] = [];
    const url = await serve(recording(app, born));
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/echo/n${i}?q=1`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-test': `t${i}` }, body: JSON.stringify({ i }) });
      expect(res.status).toBe(201);
      expect(res.headers.get('x-seen')).toBe(`t${i}`);
      expect(await res.json()).toEqual({ name: `n${i}`, body: { i }, ip: '127.0.0.1', path: `/echo/n${i}` });
    }
    expect(born).toHaveLength(3);
    for (const b of born) {
      expect(b.request).toBe(app.request);
      expect(b.response).toBe(app.response);
    }
  });

  test('every request and response of a listener is made by one class of its own (one initial map for V8), whose prototype extends the app\'s', async () => {
    const app = express();
    const made: { request: unknown; response: unknown }[] = [];
    const listener = Object.assign(
      (req: Req, res: Res) => {
        made.push({ request: req.constructor, response: res.constructor });
        app(req, res);
      },
      { request: app.request, response: app.response },
    );
    app.get('/', (req, res) => void res.json({ express: Object.getPrototypeOf(req) === app.request && Object.getPrototypeOf(res) === app.response }));
    const url = await serve(listener);
    for (let i = 0; i < 2; i++) expect(await (await fetch(url)).json()).toEqual({ express: true });
    const [first, second] = made;
    expect(first!.request).not.toBe(IncomingMessage);
    expect(first!.response).not.toBe(ServerResponse);
    expect(second).toEqual(first);
    expect(Object.getPrototypeOf((first!.request as { prototype: object }).prototype)).toBe(app.request);
    expect(Object.getPrototypeOf((first!.response as { prototype: object }).prototype)).toBe(app.response);
  });

  test('two apps on two listeners each get their own prototypes', async () => {
    const apps = [express(), express()];
    const born = apps.map(() => [] as { request: unknown; response: unknown }[]);
    const urls: string[] = [];
    for (const [i, app] of apps.entries()) {
      app.get('/', (_req, res) => void res.send(`app ${i}`));
      urls.push(await serve(recording(app, born[i]!)));
    }
    for (const [i, url] of urls.entries()) {
      const res = await fetch(url);
      expect(await res.text()).toBe(`app ${i}`);
      expect(born[i]![0]!.request).toBe(apps[i]!.request);
      expect(born[i]![0]!.response).toBe(apps[i]!.response);
    }
    expect(apps[0]!.request).not.toBe(apps[1]!.request);
  });

  test('a plain listener (no prototypes) gets node\'s own request and response', async () => {
    const born: { request: unknown; response: unknown }[] = [];
    const url = await serve((req, res) => {
      born.push({ request: Object.getPrototypeOf(req), response: Object.getPrototypeOf(res) });
      res.end('plain');
    });
    const res = await fetch(url);
    expect(await res.text()).toBe('plain');
    expect(born).toEqual([{ request: IncomingMessage.prototype, response: ServerResponse.prototype }]);
  });

  test('prototypes that are not node\'s request and response are ignored', async () => {
    const born: { request: unknown; response: unknown }[] = [];
    const listener = Object.assign(
      (req: Req, res: Res) => {
        born.push({ request: Object.getPrototypeOf(req), response: Object.getPrototypeOf(res) });
        res.end('odd');
      },
      { request: { not: 'a request' }, response: {} },
    );
    const url = await serve(listener);
    const res = await fetch(url);
    expect(await res.text()).toBe('odd');
    expect(born).toEqual([{ request: IncomingMessage.prototype, response: ServerResponse.prototype }]);
  });
});
