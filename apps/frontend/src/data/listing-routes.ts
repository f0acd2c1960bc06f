import type { Request, Response } from 'express';
import { MediaType, parseDigest } from '@pullthrough/oci';
import type { PullContext, PullThroughRegistry } from '@pullthrough/pull-through';
import { nextLink, paginate, parsePageQuery } from './pagination.js';
import { setCacheHeaders } from './registry-headers.js';

function sendPage(res: Response, path: string, body: Record<string, unknown>, next: Parameters<typeof nextLink>[1]): void {
  const link = nextLink(path, next);
  if (link) res.setHeader('Link', link);
  res.status(200).json(body);
}

/**
 * GET /v2/<name>/tags/list?n=&last=: a cached repository's upstream tags merged with local ones
 * (X-Cache says whether the upstream answered; stale: local tags only, with the reason).
 */
export async function listTags(registry: PullThroughRegistry, req: Request, res: Response, name: string, ctx: PullContext): Promise<void> {
  const query = parsePageQuery(req.query);
  const list = await registry.listTags(name, ctx);
  setCacheHeaders(res, list.cache, list.staleReason);
  const page = paginate(list.tags, query);
  sendPage(res, `/v2/${name}/tags/list`, { name, tags: page.items }, page.next);
}

/** GET /v2/_catalog?n=&last=: the repositories the caller may pull. */
export async function listCatalog(registry: PullThroughRegistry, req: Request, res: Response, visible: (name: string) => boolean): Promise<void> {
  const query = parsePageQuery(req.query);
  const page = paginate((await registry.listRepositories()).filter(visible), query);
  sendPage(res, '/v2/_catalog', { repositories: page.items }, page.next);
}

/** GET /v2/<name>/referrers/<digest>?artifactType= (OCI 1.1), an image index of the local and upstream referrers. */
export async function listReferrers(registry: PullThroughRegistry, req: Request, res: Response, name: string, rawDigest: string, ctx: PullContext): Promise<void> {
  const digest = parseDigest(rawDigest);
  const artifactType = typeof req.query.artifactType === 'string' ? req.query.artifactType : undefined;
  const { manifests, cache, staleReason } = await registry.listReferrers(name, digest, artifactType, ctx);
  setCacheHeaders(res, cache, staleReason);
  if (artifactType) res.setHeader('OCI-Filters-Applied', 'artifactType');
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
  res.setHeader('Content-Type', MediaType.OciIndex);
  res.setHeader('Content-Length', String(body.length));
  res.status(200).end(body);
}
