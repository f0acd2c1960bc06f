import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { waitUntil } from '@pullthrough/test-support';
import { digestArb, nameArb, referenceArb } from './input-arbitraries.js';
import { expectNo5xx, expectOciError, OCI_ERROR_CODES, specName, specReference } from './oci-wire-checks.js';
import { ALL_MANIFESTS, cache, dataGet, DATA_DIR_TOP_LEVEL, resetUpstreams, scripted, upstream, upstreamRequests, useSharedServers } from './property-servers.js';
import { describeAnswer, rawExchange, send, target, type Answer } from './raw-http.js';
import { sha256 } from './scripted-upstream.js';

/**
 * Property-based tests over what a client can type: repository names, references, digests, raw
 * request targets, Range headers and pagination queries (rule definitions and upstream manifests are
 * in admin-and-upstream-properties.test.ts). Real frontend, real docker-registry behind the counting
 * proxy, real Redis; every input goes over real HTTP with the path sent exactly as generated.
 * fast-check picks a new seed on every run and prints it (with the shrunk input) on failure.
 */

useSharedServers();

describe('names, references and digests', () => {
  const endpoint = fc.constantFrom('manifests', 'blobs', 'tags', 'referrers');

  test('never 5xx; every 4xx GET is an OCI error; an invalid name never reaches an upstream', async () => {
    const seen = { upstream: 0, ok: 0, invalidName: 0 };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('GET', 'HEAD'), endpoint, nameArb, referenceArb, digestArb, async (method, kind, name, reference, digest) => {
        const ref = kind === 'manifests' ? reference : digest;
        const [sentName, sentRef] = [target(name), target(ref)];
        const path = `/v2/${sentName}/${kind === 'tags' ? 'tags/list' : `${kind}/${sentRef}`}`;
        resetUpstreams();
        const a = await dataGet(path, { accept: ALL_MANIFESTS }, method);
        expectNo5xx(a, `${method} ${path}`);
        if (method === 'GET' && a.status >= 400) expectOciError(a);
        if (upstreamRequests().length > 0) seen.upstream++;
        if (a.status === 200) seen.ok++;
        if (!specName(sentName)) seen.invalidName++;
        if (!specName(sentName)) expect({ path, upstream: upstreamRequests() }).toEqual({ path, upstream: [] });
        else if (kind !== 'tags' && !specReference(sentRef)) expect({ path, upstream: upstreamRequests() }).toEqual({ path, upstream: [] });
        if (a.status === 200 && (kind === 'manifests' || kind === 'blobs')) expect(a.headers['docker-content-digest']).toMatch(/^sha256:[a-f0-9]{64}$/);
      }),
      { numRuns: 300 },
    );
    // Not vacuous: the inputs reached the upstream, were served, and were refused.
    expect(seen.upstream).toBeGreaterThan(5);
    expect(seen.ok).toBeGreaterThan(0);
    expect(seen.invalidName).toBeGreaterThan(60);
  }, 60_000);

  test('raw bytes in the request target: 2xx, an OCI error, or the HTTP parser\'s bare 400 (the app never saw it); never 5xx; an invalid name never reaches an upstream', async () => {
    const raw = fc.uint8Array({ minLength: 1, maxLength: 30 }).map((b) => Buffer.from(b));
    const url = new URL(cache.dataUrl);
    await fc.assert(
      fc.asyncProperty(fc.tuple(fc.constantFrom('up/', 'up/small', ''), raw, fc.constantFrom('/manifests/v1', '/tags/list', '')), async ([prefix, bytes, suffix]) => {
        resetUpstreams();
        const requestLine = Buffer.concat([Buffer.from(`GET /v2/${prefix}`), bytes, Buffer.from(`${suffix} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`)]);
        const response = await rawExchange(Number(url.port), requestLine);
        const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(response.toString('latin1'))?.[1]);
        const what = `${requestLine.toString('latin1')} -> ${response.toString('latin1').slice(0, 300)}`;
        expect({ what, answered: status >= 200 && status < 500 }).toEqual({ what, answered: true });
        const [head, ...rest] = response.toString('latin1').split('\r\n\r\n');
        if (status >= 400 && /content-type: application\/json/i.test(head!)) {
          const body = JSON.parse(Buffer.from(rest.join('\r\n\r\n'), 'latin1').toString('utf8')) as { errors: Array<{ code: string }> };
          expect(OCI_ERROR_CODES.has(body.errors[0]!.code)).toBe(true);
        } else if (status >= 400) {
          // Node's parser answered: the request never reached the application.
          expect({ what, status }).toEqual({ what, status: 400 });
        }
        if (!specName(prefix + bytes.toString('latin1'))) expect({ what, upstream: upstreamRequests() }).toEqual({ what, upstream: [] });
      }),
      { numRuns: 100 },
    );
  }, 60_000);

  test('regression: names on the grammar edges answer NAME_INVALID and reach no upstream', async () => {
    for (const name of ['up/small/', '/up/small', 'up//small', 'up/../up/small', 'up/%2e%2e/small', 'up%2F..%2Fsmall', 'up%2F%2Fsmall', 'up%2Fsmall%2F', 'up%252Fsmall', 'UP/small', 'up/small%00', 'up/' + 'a'.repeat(253)]) {
      resetUpstreams();
      const a = await dataGet(`/v2/${name}/manifests/v1`);
      expect({ name, status: a.status }).toEqual({ name, status: 400 });
      expect(expectOciError(a)).toEqual(['NAME_INVALID']);
      expect(upstreamRequests()).toEqual([]);
    }
  }, 30_000);
});

describe('Range headers', () => {
  let local: { path: string; bytes: Buffer };

  beforeAll(async () => {
    const blob = upstream.fixtures.small.blobs.reduce((a, b) => (a.size >= b.size ? a : b));
    const path = `/v2/up/small/blobs/${blob.digest}`;
    const first = await dataGet(path);
    expect(first.status).toBe(200);
    expect(sha256(first.body)).toBe(blob.digest);
    local = { path, bytes: first.body };
    // The first pull streamed it; it is local once the write-through has committed.
    await waitUntil(async () => (await dataGet(path, {}, 'HEAD')).headers['x-cache'] === 'hit', { timeoutMs: 10_000, what: 'the pulled blob to be local' });
  }, 30_000);

  const num = fc.oneof(
    fc.nat({ max: 5000 }),
    fc.constantFrom('0', '00', '1', '9007199254740991', '9007199254740993', '18446744073709551616', '1' + '0'.repeat(400), '-1', '+1', '1e3', '0x10', ' 1', ''),
  );
  const spec = fc.oneof(
    fc.tuple(num, num).map(([a, b]) => `${a}-${b}`),
    num.map((a) => `${a}-`),
    num.map((b) => `-${b}`),
    fc.constantFrom('-', '--', '1--2', '-0', '0-0'),
  );
  const headerValue = fc.string({ unit: 'binary-ascii', maxLength: 60 }).filter((s) => /^[\x20-\x7e]*$/.test(s));
  // Ranges a client would send (mostly inside the blobs here, a few hundred bytes to 3 KB).
  const small = fc.nat({ max: 600 });
  const sane = fc.oneof(
    fc.tuple(small, small).map(([a, len]) => `bytes=${a}-${a + len}`),
    small.map((a) => `bytes=${a}-`),
    small.map((n) => `bytes=-${n}`),
  );
  const rangeArb = fc.oneof(
    { arbitrary: sane, weight: 4 },
    fc.constant(''), // an empty Range is no Range: the whole blob
    spec.map((s) => `bytes=${s}`),
    fc.array(spec, { minLength: 2, maxLength: 4 }).map((s) => `bytes=${s.join(',')}`),
    fc.tuple(fc.constantFrom('Bytes=', 'bytes =', 'bytes= ', 'items=', 'bytes:', 'bytes=\t', ''), spec).map(([u, s]) => u + s),
    headerValue,
    headerValue.map((s) => `bytes=${s}`),
  );

  /** 200 (whole blob), 206 (exactly the range it claims), 416 (with a Content-Range of bytes, star, size) or another 4xx with an OCI body. */
  const statuses = new Map<number, number>();
  function expectRangeAnswer(a: Answer, bytes: Buffer, what: string): void {
    statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    expectNo5xx(a, what);
    if (a.status === 200) return void expect(a.body.equals(bytes)).toBe(true);
    if (a.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(a.headers['content-range']));
      if (!m) throw new Error(`${what}: 206 without a valid Content-Range: ${String(a.headers['content-range'])}`);
      const [start, end, size] = [Number(m[1]), Number(m[2]), Number(m[3])];
      expect({ what, size, inside: start <= end && end < bytes.length }).toEqual({ what, size: bytes.length, inside: true });
      expect(a.body.length).toBe(end - start + 1);
      expect(a.body.equals(bytes.subarray(start, end + 1))).toBe(true);
      return;
    }
    if (a.status === 416) {
      expect({ what, contentRange: a.headers['content-range'] }).toEqual({ what, contentRange: `bytes */${bytes.length}` });
      expect(expectOciError(a)).toEqual(['RANGE_INVALID']);
      return;
    }
    if (a.status >= 400 && a.status < 500) return void expectOciError(a);
    throw new Error(`${what}: unexpected ${describeAnswer(a)}`);
  }

  test('a local blob: 200, 206 with the bytes it claims, or 416 with bytes */size; never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(rangeArb, async (range) => {
        const a = await dataGet(local.path, { range });
        expectRangeAnswer(a, local.bytes, `Range: ${range}`);
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  let fresh = 0;
  test('a blob not yet local (fetched from the upstream on this request): the same answers', async () => {
    await fc.assert(
      fc.asyncProperty(rangeArb, fc.uint8Array({ maxLength: 3000 }), async (range, content) => {
        const bytes = Buffer.from(content);
        const digest = scripted.putBlob(bytes);
        const path = `/v2/sc/blob${++fresh}/blobs/${digest}`;
        const a = await dataGet(path, { range });
        expectRangeAnswer(a, bytes, `Range: ${range} on ${bytes.length} bytes not local`);
      }),
      { numRuns: 150 },
    );
  }, 60_000);

  test('the generators reached every answer: 200, 206 and 416', () => {
    expect([200, 206, 416].map((s) => (statuses.get(s) ?? 0) > 5)).toEqual([true, true, true]);
  });

  test('regression: a multi-range and an unsatisfiable range are 416 with Content-Range bytes */size; a bad Range on an unknown blob is 404', async () => {
    for (const range of ['bytes=0-,-0', 'bytes=0-1,3-4', `bytes=${local.bytes.length}-`, 'bytes=-0', 'items=0-1']) {
      const a = await dataGet(local.path, { range });
      expect({ range, status: a.status, contentRange: a.headers['content-range'] }).toEqual({ range, status: 416, contentRange: `bytes */${local.bytes.length}` });
      expect(expectOciError(a)).toEqual(['RANGE_INVALID']);
    }
    const unknown = await dataGet(`/v2/up/small/blobs/sha256:${'0'.repeat(64)}`, { range: 'bytes=0-1,3-4' });
    expect(unknown.status).toBe(404);
    expect(expectOciError(unknown)).toEqual(['BLOB_UNKNOWN']);
  });
});

describe('pagination queries', () => {
  const value = fc.oneof(
    fc.nat({ max: 20 }).map(String),
    fc.constantFrom('', '-1', '1.5', '1e2', '0x1', '99999999999999999999999', ' 1', 'NaN', 'Infinity', '%00', '%ZZ', '%2F'),
    fc.string({ unit: 'binary', maxLength: 20 }),
  );
  const queryArb = fc.oneof(
    fc.array(fc.tuple(fc.constantFrom('n', 'last', 'n[]', 'last[a]', 'N', 'x'), value), { maxLength: 4 }).map((pairs) => pairs.map(([k, v]) => `${k}=${target(v, '')}`).join('&')),
    fc.string({ unit: 'binary', maxLength: 40 }).map((s) => target(s, '?#')),
  );

  test('_catalog and tags/list: never 5xx; 4xx are OCI errors; a page holds at most n entries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/v2/_catalog', '/v2/up/small/tags/list', '/v2/nothing/here/tags/list'), queryArb, async (path, query) => {
        const a = await dataGet(`${path}?${query}`);
        expectNo5xx(a, `${path}?${query}`);
        // A repository no rule maps is never anonymous: UNAUTHORIZED before its query is looked at.
        if (a.status >= 400) return void expect(['PAGINATION_NUMBER_INVALID', 'NAME_UNKNOWN', 'UNAUTHORIZED']).toEqual(expect.arrayContaining(expectOciError(a)));
        expect(a.status).toBe(200);
        const body = JSON.parse(a.body.toString('utf8')) as { repositories?: unknown; tags?: unknown };
        const items = path === '/v2/_catalog' ? body.repositories : body.tags;
        expect(Array.isArray(items) && items.every((i) => typeof i === 'string')).toBe(true);
        const n = new URLSearchParams(query).getAll('n');
        if (n.length === 1 && /^\d+$/.test(n[0]!)) expect((items as string[]).length).toBeLessThanOrEqual(Number(n[0]));
      }),
      { numRuns: 200 },
    );
  }, 60_000);
});


describe('the data dir', () => {
  async function walk(dir: string, out: string[]): Promise<void> {
    for (const entry of await readdir(dir)) {
      const path = join(dir, entry);
      out.push(path);
      const info = await lstat(path);
      if (info.isSymbolicLink()) {
        const to = await readlink(path);
        throw new Error(`symlink in the data dir: ${path} -> ${to}`);
      }
      if (info.isDirectory()) await walk(path, out);
    }
  }

  test('after every property: everything is under the data dir, only the known top-level entries, only valid repository names', async () => {
    const root = await realpath(cache.dataDir);
    const top = await readdir(root);
    for (const entry of top) expect(DATA_DIR_TOP_LEVEL).toContain(entry);
    const files: string[] = [];
    await walk(root, files);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const rel = relative(root, await realpath(file));
      expect({ file, inside: !rel.startsWith('..') && !isAbsolute(rel) && resolve(root, rel) === resolve(file) }).toEqual({ file, inside: true });
      expect(rel.split(sep)).not.toContain('..');
    }
    // repositories/<name>/_manifests|_layers|_referrers...: every <name> is a valid repository name.
    const names = new Set(
      files
        .map((f) => relative(join(root, 'repositories'), f).split(sep))
        .filter((parts) => parts[0] !== '..' && parts.some((p) => p.startsWith('_')))
        .map((parts) => parts.slice(0, parts.findIndex((p) => p.startsWith('_'))).join('/')),
    );
    expect(names.size).toBeGreaterThan(0);
    for (const name of names) expect({ name, valid: specName(name) && (name.startsWith('up/') || name.startsWith('sc/')) }).toEqual({ name, valid: true });
  });
});
