import type { Request, Response } from 'express';
import { MediaType, parseDigest } from '@pullthrough/oci';
import type { PullThroughRegistry, RepositoryContent } from '@pullthrough/pull-through';
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
export async function listTags(content: RepositoryContent, req: Request, res: Response): Promise<void> {
  const query = parsePageQuery(req.query);
  const name = content.repository;
  const list = await content.listTags();
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
export async function listReferrers(content: RepositoryContent, req: Request, res: Response, rawDigest: string): Promise<void> {
  const digest = parseDigest(rawDigest);
  const artifactType = typeof req.query.artifactType === 'string' ? req.query.artifactType : undefined;
  const { manifests, cache, staleReason } = await content.listReferrers(digest, artifactType);
  setCacheHeaders(res, cache, staleReason);
  if (artifactType) res.setHeader('OCI-Filters-Applied', 'artifactType');
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
  res.setHeader('Content-Type', MediaType.OciIndex);
  res.setHeader('Content-Length', String(body.length));
  res.status(200).end(body);
}
