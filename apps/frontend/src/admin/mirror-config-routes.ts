import { Router, type Request } from 'express';
import { registryHostIssues, type CacheRuleSet } from '@pullthrough/cache-rules';
import { containerdHostsFiles, defaultCacheUrl, MIRROR_FORMS, type MirrorForm } from '../mirror/containerd-hosts-files.js';
import { ProblemError, type FieldIssue } from './problem.js';

export interface MirrorConfigOptions {
  rules: () => CacheRuleSet;
  /** PULLTHROUGH_PUBLIC_HOSTS: the first is the default cache URL. */
  publicHosts: readonly string[];
  /** Does the cache ask clients to authenticate (htpasswd users, or anonymous pull off)? */
  clientAuth: boolean;
  isInsecure: (registry: string) => boolean;
}

const FORMATS = ['json', 'toml'] as const;
const KNOWN = new Set(['host', 'form', 'format', 'cacheUrl']);

/** A query parameter given once, or an issue. */
function single(req: Request, name: string, issues: FieldIssue[]): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    issues.push({ field: name, message: 'must be given once' });
    return undefined;
  }
  return v;
}

/** `scheme://host[:port]` of an http(s) URL with no path, query, fragment or credentials. */
function cacheUrlIssue(value: string): { url?: string; issue?: string } {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return { issue: 'must be an absolute http:// or https:// URL (e.g. http://cache.pullthrough.svc:5000)' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { issue: 'must use http or https' };
  if (u.username || u.password) return { issue: 'must not carry credentials' };
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return { issue: "must be the cache's root URL: no path, query or fragment" };
  return { url: `${u.protocol}//${u.host}` };
}

/**
 * GET /api/v1/mirror-config/containerd?host=&form=ns|override-path&format=json|toml&cacheUrl=: the
 * `certs.d/<upstream>/hosts.toml` files that make containerd on a node pull through this cache for
 * every upstream registry of the cache rules (or one). Never a secret: where client authentication
 * is on, the credential stanza is a commented template.
 */
export function mirrorConfigRoutes(options: MirrorConfigOptions): Router {
  const router = Router();
  router.get('/containerd', (req, res) => {
    const issues: FieldIssue[] = [];
    for (const name of Object.keys(req.query)) if (!KNOWN.has(name)) issues.push({ field: name, message: `unknown query parameter (known: ${[...KNOWN].join(', ')})` });
    const host = single(req, 'host', issues);
    const form = single(req, 'form', issues) ?? 'ns';
    const format = single(req, 'format', issues) ?? 'json';
    const rawUrl = single(req, 'cacheUrl', issues);
    if (host !== undefined) for (const message of registryHostIssues(host).slice(0, 1)) issues.push({ field: 'host', message });
    if (!(MIRROR_FORMS as readonly string[]).includes(form)) issues.push({ field: 'form', message: `must be one of ${MIRROR_FORMS.join(', ')}` });
    if (!(FORMATS as readonly string[]).includes(format)) issues.push({ field: 'format', message: `must be one of ${FORMATS.join(', ')}` });
    else if (format === 'toml' && host === undefined) issues.push({ field: 'format', message: 'toml returns one file: name its upstream with host' });
    const checked = rawUrl === undefined ? { url: defaultCacheUrl(options.publicHosts) } : cacheUrlIssue(rawUrl);
    if (checked.issue) issues.push({ field: 'cacheUrl', message: checked.issue });
    else if (!checked.url) issues.push({ field: 'cacheUrl', message: 'is required: PULLTHROUGH_PUBLIC_HOSTS is empty, so the cache does not know the URL nodes reach it by' });
    if (issues.length > 0) throw new ProblemError(400, 'Bad Request', 'invalid mirror-config query', issues);

    const files = containerdHostsFiles({
      rules: options.rules().list(),
      cacheUrl: checked.url!,
      form: form as MirrorForm,
      clientAuth: options.clientAuth,
      isInsecure: options.isInsecure,
      ...(host !== undefined ? { host } : {}),
    });
    if (host !== undefined && files.length === 0) {
      throw new ProblemError(404, 'Not Found', `no cache rule reads from ${host}`, [{ field: 'host', message: 'no cache rule has this upstream registry' }]);
    }
    if (format === 'toml') {
      res.type('application/toml; charset=utf-8').send(files[0]!.content);
      return;
    }
    res.json({ cacheUrl: checked.url, form, files });
  });
  return router;
}
