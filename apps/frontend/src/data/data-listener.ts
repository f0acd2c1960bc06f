import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';

/** The data port's listener, with the express app's prototypes for the requests and responses it is given (`listen`). */
export type DataListener = RequestListener & Pick<Express, 'request' | 'response'>;

export interface DataPlaneSteps {
  /** Run first, in order, for every request (telemetry, request context, loop detection). */
  before: RequestHandler[];
  /** What is mounted at /v2 (the registry API). */
  v2: RequestHandler;
  /** A request it passes on (`next()` without an error). */
  notFound: RequestHandler;
  /** Any error from any step becomes the response here. */
  onError: ErrorRequestHandler;
}

const MOUNT = '/v2';

/** A path express would hand to the router mounted at /v2. Only a subset (no `/V2`, no absolute-form URL): the rest goes through express, which decides the same. */
function underMount(url: string): boolean {
  return url.startsWith(MOUNT) && (url.length === MOUNT.length || url[MOUNT.length] === '/' || url[MOUNT.length] === '?');
}

/**
 * The data port's request listener. Registers the steps on `app` (`before`, then each of `mounts` at its
 * path, `v2` at /v2, `notFound`, `onError`): one place decides their order for both ways a request can
 * take. A request under /v2 (nearly every request on this port) goes through the very same functions in
 * that order without express's app and router in between, which were about 15% of a manifest hit's CPU
 * (README "Manifest hits"). What they do for such a request is done here: the request and response point
 * at each other, `res.locals`, the mount's `baseUrl`, `url` and `originalUrl` while `v2` runs (restored
 * after it, as express does), a returned promise's rejection is the request's error, and after an error
 * only `onError` runs. Every other path goes to `app`.
 */
export function dataListener(app: Express, steps: DataPlaneSteps, mounts: Record<string, RequestHandler> = {}): DataListener {
  app.use(...steps.before);
  for (const [path, handler] of Object.entries(mounts)) app.use(path, handler);
  app.use(MOUNT, steps.v2);
  app.use(steps.notFound);
  app.use(steps.onError);
  const handlers = [...steps.before, steps.v2, steps.notFound];
  const v2At = steps.before.length;
  const listener = (incoming: IncomingMessage, outgoing: ServerResponse): void => {
    const url = incoming.url ?? '';
    if (!underMount(url)) return void app(incoming, outgoing);
    const req = incoming as Request;
    const res = outgoing as Response;
    req.res = res;
    res.req = req;
    res.locals ??= Object.create(null) as Response['locals'];
    req.originalUrl = url;
    req.baseUrl = '';
    let at = 0;
    const leaveMount = (): void => {
      req.url = url;
      req.baseUrl = '';
    };
    const fail = (err: unknown): void => {
      if (at === v2At + 1) leaveMount();
      at = handlers.length;
      try {
        steps.onError(err, req, res, unhandled(res));
      } catch (thrown) {
        unhandled(res)(thrown);
      }
    };
    const next: NextFunction = (err?: unknown): void => {
      if (at === v2At + 1) leaveMount();
      if (err !== undefined && err !== null) return fail(err);
      if (at >= handlers.length) return; // passed on after notFound: nothing left (express would answer 404 the same way)
      const handler = handlers[at++]!;
      if (at === v2At + 1) {
        req.baseUrl = MOUNT;
        const rest = url.slice(MOUNT.length);
        req.url = rest.startsWith('/') ? rest : `/${rest}`;
      }
      try {
        const result: unknown = handler(req, res, next);
        if (result instanceof Promise) result.then(undefined, fail);
      } catch (thrown) {
        fail(thrown);
      }
    };
    next();
  };
  return Object.assign(listener, { request: app.request, response: app.response });
}

/** `onError` itself failed, or passed the error on: nothing more is sent but a bare 500 (or the connection is cut mid-response). */
function unhandled(res: Response): NextFunction {
  return () => {
    if (res.headersSent) res.destroy();
    else res.status(500).end();
  };
}
