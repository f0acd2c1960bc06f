import type { Express, NextFunction, Request, Response } from 'express';
import { context, SpanKind, SpanStatusCode, trace, tracer, tracingActive } from '@pullthrough/telemetry';
import type { HttpMetrics } from './metrics/http-metrics.js';

const UNMATCHED = 'unmatched';

/** Where `watchRoutes` keeps the route express set on a request. */
const ROUTE = Symbol('pullthrough.route');

/**
 * The route pattern that took a request: the data router names it (`res.locals.route`); on the admin
 * port it is the matched express route with its mount path, seen when express sets `req.route` (its
 * mount path is restored before an error reaches the error middleware, so it is read then).
 * Bounded because every mount path is literal and lower case (a `:param` in an `app.use` path would put its value in the label).
 *
 * One accessor on the app's request prototype (express assigns `req.route`, which calls it), not one
 * defined on every request: a property defined per object with its own closures gives each request a
 * map of its own, and every later property access on it went slow (manifest hits at 50 connections:
 * 6,300 -> 7,300 requests/s without it). Requests are born with that prototype (`listen`), and
 * express gives every request it handles that prototype anyway.
 */
export function watchRoutes(app: Express): void {
  Object.defineProperty(app.request, 'route', {
    configurable: true,
    enumerable: true,
    get(this: Request & { [ROUTE]?: unknown }) {
      return this[ROUTE];
    },
    set(this: Request & { [ROUTE]?: unknown }, route: { path?: unknown } | undefined) {
      this[ROUTE] = route;
      // Lower case: express matches mount paths case-insensitively, and baseUrl is the path as sent (`/CONSOLE`).
      if (typeof route?.path === 'string' && this.res) this.res.locals.route = `${this.baseUrl.toLowerCase()}${route.path}`;
    },
  });
}

/**
 * A server span and a latency observation per request. The span is a new root (a client's
 * `traceparent` is not trusted to force sampling or join traces), active for everything the request
 * does, named `<METHOD> <route pattern>` when the response ends, with the status and X-Cache.
 * Never the raw path, the query or a header: they can name repositories a user may not see, or carry tokens.
 * The route is read from `res.locals.route` (`watchRoutes` must be installed on the app).
 */
export function httpTelemetry(plane: 'data' | 'admin', metrics: HttpMetrics | undefined) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    // Tracing off: no span and no context for it (a no-op span, a context holding it and a context switch
    // per request were about 2% of a manifest hit's CPU). Only the metrics are observed.
    const span = tracingActive() ? tracer().startSpan(`${req.method} ${plane}`, { kind: SpanKind.SERVER, root: true, attributes: { 'http.request.method': req.method, 'pullthrough.plane': plane } }) : undefined;
    const end = () => {
      const route = typeof res.locals.route === 'string' ? res.locals.route : UNMATCHED;
      const cacheHeader = res.getHeader('X-Cache');
      const cache = typeof cacheHeader === 'string' ? cacheHeader : 'none';
      const finished = res.writableFinished;
      const status = finished ? res.statusCode : 499;
      const length = Number(res.getHeader('Content-Length'));
      const bytes = finished && req.method !== 'HEAD' && Number.isFinite(length) ? length : 0;
      metrics?.observe({ plane, route, method: req.method, status, cache, seconds: Number(process.hrtime.bigint() - started) / 1e9, bytes });
      if (!span) return;
      if (span.isRecording()) {
        span.updateName(`${req.method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': status, 'pullthrough.cache': cache });
        if (!finished) span.setAttribute('pullthrough.aborted', true);
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    };
    // 'close' comes after 'finish' for a completed response (node emits it a tick later) and alone for one cut
    // short: one listener sees both (`writableFinished` tells them apart).
    res.once('close', end);
    if (span) context.with(trace.setSpan(context.active(), span), next);
    else next();
  };
}
