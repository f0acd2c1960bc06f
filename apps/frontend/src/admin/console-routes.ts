import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { sendProblem } from './problem.js';

/** Where `turbo run build` puts the console (apps/console/dist), from this file in src/admin or dist/admin. */
export const DEFAULT_CONSOLE_DIR = resolve(__dirname, '../../../console/dist');

/**
 * The console's only sources are this cache's own files; no inline script or style, no other origin.
 * `connect-src 'self'`: its API calls go to this admin port only. The SVG charts are DOM elements (no `data:`).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.set({
    'content-security-policy': CONSOLE_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  });
  next();
}

/**
 * GET /console/: the web console's static files (README "Console"). They carry no data, so they are
 * public (admin-access.ts, ADMIN_PORT_PUBLIC); every API call the console makes carries the token.
 * index.html is `no-store` (a new build is picked up at once); hashed assets are immutable for a year.
 * The folder is looked up on each request, so building the console after the start works.
 */
export function consoleRoutes(dir: string = DEFAULT_CONSOLE_DIR): Router {
  const router = Router({ strict: true });
  router.use(securityHeaders);
  const index = join(dir, 'index.html');
  router.get('/', (req, res, next) => {
    // `/console` -> `/console/`: the page's relative asset URLs resolve under it.
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) return void res.redirect(301, `${req.baseUrl}/`);
    if (!existsSync(index)) {
      return sendProblem(res, {
        status: 503,
        title: 'Service Unavailable',
        detail: 'the web console is not built: run `npx turbo run build` (it builds apps/console into apps/console/dist), then reload',
      });
    }
    res.set('cache-control', 'no-store').sendFile(index, (err) => err && next(err));
  });
  router.use('/assets', express.static(join(dir, 'assets'), { index: false, immutable: true, maxAge: '365d', fallthrough: true, redirect: false, dotfiles: 'ignore' }));
  router.use((_req, res) => sendProblem(res, { status: 404, title: 'Not Found', detail: 'no such console file (the console\'s pages are routes after # in /console/)' }));
  return router;
}
