import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { listen } from '@pullthrough/operations';
import { dataListener } from './data-listener.js';

const LIMITS = { headersTimeoutMs: 2000, requestTimeoutMs: 2000, idleTimeoutMs: 3000, maxConnections: 10 };

let server: Server;
let url: string;
/** What each step saw, per request (by its x-test header). */
const trail = new Map<string, string[]>();
const note = (req: express.Request, entry: string): void => {
  const id = String(req.headers['x-test']);
  trail.set(id, [...(trail.get(id) ?? []), entry]);
};

beforeAll(async () => {
  const app = express();
  const before: RequestHandler[] = [
    (req, res, next) => {
      note(req, `first express=${String(req.app === app)} locals=${typeof res.locals} json=${typeof res.json} self=${String(req.res === res && res.req === req)}`);
      next();
    },
    (req, _res, next) => {
      note(req, 'second');
      if (req.headers['x-fail'] === 'before') return next(new Error('refused before'));
      next();
    },
  ];
  const v2: RequestHandler = async (req, res, next) => {
    note(req, `v2 base=${req.baseUrl} url=${req.url} original=${req.originalUrl} query=${JSON.stringify(req.query)}`);
    const fail = req.headers['x-fail'];
    if (fail === 'throw') throw new Error('thrown in v2');
    if (fail === 'next') return next(new Error('passed on by v2'));
    if (fail === 'pass') return next();
    await new Promise((r) => setImmediate(r));
    if (fail === 'reject') throw new Error('rejected in v2');
    res.json({ ok: true });
  };
  const notFound: RequestHandler = (req, res) => {
    note(req, `notFound url=${req.url} base=${req.baseUrl}`);
    res.status(404).json({ notFound: true });
  };
  const onError: ErrorRequestHandler = (err: Error, req, res, _next) => {
    note(req, `onError ${err.message} url=${req.url} base=${req.baseUrl}`);
    res.status(500).json({ error: err.message });
  };
  const token: RequestHandler = (req, res) => {
    note(req, 'token');
    res.json({ token: true });
  };
  const listener = dataListener(app, { before, v2, notFound, onError }, { '/token': token });
  expect(listener.request).toBe(app.request);
  server = await listen(listener, '127.0.0.1', 0, LIMITS);
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function get(path: string, id: string, fail?: string): Promise<{ status: number; body: unknown; trail: string[] | undefined }> {
  const res = await fetch(`${url}${path}`, { headers: { 'x-test': id, ...(fail ? { 'x-fail': fail } : {}) } });
  return { status: res.status, body: await res.json(), trail: trail.get(id) };
}

const FIRST = 'first express=true locals=object json=function self=true';

test('a /v2 request runs the steps in order, with the mount as express would set it while v2 runs', async () => {
  expect(await get('/v2/a/b/manifests/x?n=2', 'ok')).toEqual({
    status: 200,
    body: { ok: true },
    trail: [FIRST, 'second', 'v2 base=/v2 url=/a/b/manifests/x?n=2 original=/v2/a/b/manifests/x?n=2 query={"n":"2"}'],
  });
  expect((await get('/v2', 'root')).trail?.[2]).toBe('v2 base=/v2 url=/ original=/v2 query={}');
  expect((await get('/v2?x=1', 'rootq')).trail?.[2]).toBe('v2 base=/v2 url=/?x=1 original=/v2?x=1 query={"x":"1"}');
});

test('after an error only onError runs, with the mount left; a thrown error or a rejected promise is the request error', async () => {
  expect(await get('/v2/a', 'before', 'before')).toEqual({ status: 500, body: { error: 'refused before' }, trail: [FIRST, 'second', 'onError refused before url=/v2/a base='] });
  for (const [fail, message] of [
    ['throw', 'thrown in v2'],
    ['next', 'passed on by v2'],
    ['reject', 'rejected in v2'],
  ]) {
    const { status, body, trail: seen } = await get('/v2/a', fail!, fail);
    expect({ status, body }).toEqual({ status: 500, body: { error: message } });
    expect(seen?.at(-1)).toBe(`onError ${message} url=/v2/a base=`);
    expect(seen).toHaveLength(4);
  }
});

test('a request v2 passes on reaches notFound with the mount left', async () => {
  expect(await get('/v2/a', 'pass', 'pass')).toEqual({ status: 404, body: { notFound: true }, trail: [FIRST, 'second', 'v2 base=/v2 url=/a original=/v2/a query={}', 'notFound url=/v2/a base='] });
});

test('every other path goes through express, which gives the same steps the same way', async () => {
  expect(await get('/token?service=x', 'token')).toEqual({ status: 200, body: { token: true }, trail: [FIRST, 'second', 'token'] });
  expect(await get('/v2x', 'v2x')).toEqual({ status: 404, body: { notFound: true }, trail: [FIRST, 'second', 'notFound url=/v2x base='] });
  // Express matches mount paths case-insensitively: /V2 is left to it.
  expect((await get('/V2/a', 'upper')).trail).toEqual([FIRST, 'second', 'v2 base=/V2 url=/a original=/V2/a query={}']);
  expect((await get('/V2/a', 'upper-fail', 'before')).status).toBe(500);
});
