import express, { Router, type Request, type Response } from 'express';
import { JwtInvalidError, parseScopes, type Authorizer, type PasswordLoginOutcome, type TokenService } from '@pullthrough/auth';
import { LOGIN_THROTTLED, type ClientAuth } from './client-auth.js';

export interface TokenRoutesOptions {
  auth: ClientAuth;
  tokens: TokenService;
  authorizer: Authorizer;
}

const list = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : typeof value === 'string' ? [value] : []);

function tokenError(res: Response, status: number, code: string, message: string): void {
  if (status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="pullthrough"');
  res.status(status).json({ errors: [{ code, message }] });
}

/** A refused password login: 401, or 429 with Retry-After when the client is over its failed-login limit. */
function loginRefused(req: Request, res: Response, auth: ClientAuth, outcome: Exclude<PasswordLoginOutcome, { kind: 'accepted' }>): void {
  if (outcome.kind === 'throttled') {
    res.setHeader('Retry-After', String(outcome.retryAfterSeconds));
    return tokenError(res, 429, 'TOOMANYREQUESTS', LOGIN_THROTTLED[outcome.reason]);
  }
  auth.refusedAtTokenEndpoint(req, res, 'bad-credentials');
  tokenError(res, 401, 'UNAUTHORIZED', 'invalid username or password');
}

/**
 * Our token endpoint (distribution's token flow): `GET /token` with optional Basic credentials, as
 * docker and skopeo ask, and `POST /token` with an OAuth2 form (`grant_type=password|refresh_token`),
 * as containerd and docker's refresh ask. Access tokens grant what was asked for, cut to what the
 * caller may do; anonymous callers get anonymous tokens. Refresh tokens only for users.
 */
export function tokenRoutes({ auth, tokens, authorizer }: TokenRoutesOptions): Router {
  const router = Router();
  const checkService = (res: Response, service: unknown): boolean => {
    if (service === undefined || service === tokens.service) return true;
    tokenError(res, 400, 'DENIED', `this token service is "${tokens.service}"`);
    return false;
  };
  const answer = (res: Response, subject: string | undefined, scopes: string[], refresh: boolean, post: boolean) => {
    const access = authorizer.grant(subject, parseScopes(scopes));
    const issued = tokens.issueAccess(subject ?? '', access);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      ...(post ? { scope: access.map((a) => `repository:${a.name}:${a.actions.join(',')}`).join(' ') } : { token: issued.token }),
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
      ...(refresh && subject !== undefined ? { refresh_token: tokens.issueRefresh(subject).token } : {}),
    });
  };

  router.get('/', async (req: Request, res: Response) => {
    if (!checkService(res, req.query.service)) return;
    const header = req.headers.authorization;
    let subject: string | undefined;
    if (header) {
      const m = /^Basic\s+(\S+)$/i.exec(header);
      const outcome = await auth.basicLogin(req, res, m ? m[1]! : '', { route: '/token' });
      if (outcome.kind !== 'accepted') return loginRefused(req, res, auth, outcome);
      subject = outcome.user;
    }
    answer(res, subject, list(req.query.scope), req.query.offline_token === 'true', false);
  });

  router.post('/', express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 100 }), async (req: Request, res: Response) => {
    const form = (req.body ?? {}) as Record<string, unknown>;
    if (!checkService(res, form.service)) return;
    const scopes = list(form.scope);
    if (form.grant_type === 'password') {
      const username = typeof form.username === 'string' ? form.username : '';
      const password = typeof form.password === 'string' ? form.password : '';
      const outcome = await auth.passwordLogin(req, res, username, password, { route: '/token' });
      if (outcome.kind !== 'accepted') return loginRefused(req, res, auth, outcome);
      return answer(res, outcome.user, scopes, form.access_type === 'offline', true);
    }
    if (form.grant_type === 'refresh_token') {
      try {
        const subject = await tokens.verifyRefresh(typeof form.refresh_token === 'string' ? form.refresh_token : '');
        // A user removed from htpasswd can no longer refresh.
        if (!auth.userExists(subject)) {
          auth.refusedAtTokenEndpoint(req, res, 'invalid-token');
          return tokenError(res, 401, 'UNAUTHORIZED', 'the user of this refresh token no longer exists');
        }
        return answer(res, subject, scopes, false, true);
      } catch (err) {
        if (err instanceof JwtInvalidError) {
          auth.refusedAtTokenEndpoint(req, res, 'invalid-token');
          return tokenError(res, 401, 'UNAUTHORIZED', `refresh token refused: ${err.reason}`);
        }
        throw err;
      }
    }
    tokenError(res, 400, 'UNSUPPORTED', 'grant_type must be password or refresh_token');
  });
  // A form that is too large or malformed is the client's error, in the same shape.
  router.use((err: { type?: string; status?: number }, _req: Request, res: Response, next: (err: unknown) => void) => {
    if (typeof err?.type !== 'string' || !err.type.startsWith('entity.')) return next(err);
    tokenError(res, err.status === 413 ? 413 : 400, 'UNSUPPORTED', err.status === 413 ? 'request body too large' : 'request body is not a valid form');
  });
  return router;
}
