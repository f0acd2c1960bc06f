import { createHash } from 'node:crypto';
import { MANIFEST_ACCEPT } from '@pullthrough/oci';
import { ADMIN_TOKEN, type Cache } from './harness.js';

export const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

export interface Pulled {
  status: number;
  headers: Headers;
  body: Buffer;
  /** The body could not be read to its end (connection reset or cut short); status 0: no response at all. */
  broken: boolean;
  /** The OCI error, for 4xx/5xx answers. */
  error?: { code: string; message: string; detail?: Record<string, unknown> };
}

/** GET (or HEAD) a path on the cache's data plane, reading the body to the end if it can. */
export async function pull(cache: Cache, path: string, init: { method?: string; accept?: string } = {}): Promise<Pulled> {
  let res: Response;
  try {
    res = await fetch(`${cache.dataUrl}${path}`, { method: init.method ?? 'GET', headers: { accept: init.accept ?? MANIFEST_ACCEPT } });
  } catch {
    // The connection closed before any response: the cache cut it off.
    return { status: 0, headers: new Headers(), body: Buffer.alloc(0), broken: true };
  }
  let body = Buffer.alloc(0);
  let broken = false;
  try {
    body = Buffer.from(await res.arrayBuffer());
  } catch {
    broken = true;
  }
  const pulled: Pulled = { status: res.status, headers: res.headers, body, broken };
  if (res.status >= 400 && !broken && body.length > 0) pulled.error = (JSON.parse(body.toString()) as { errors: Pulled['error'][] }).errors[0];
  return pulled;
}

export const manifestPath = (repository: string, reference: string) => `/v2/${repository}/manifests/${reference}`;
export const blobPath = (repository: string, digest: string) => `/v2/${repository}/blobs/${digest}`;

/** GET an admin API path with the admin token. */
export async function admin<T>(cache: Cache, path: string): Promise<T> {
  const res = await fetch(`${cache.adminUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The value of one Prometheus sample from `GET /metrics`, e.g. `pullthrough_redis_up` or `name{label="x"}`; undefined when absent. */
export async function metric(cache: Cache, sample: string): Promise<number | undefined> {
  const text = await (await fetch(`${cache.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until `check` is true or `timeoutMs` passes (then throw). */
export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
