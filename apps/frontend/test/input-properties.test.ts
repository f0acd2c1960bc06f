import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { MediaType } from '@pullthrough/oci';
import { waitUntil, type RedisServer } from '@pullthrough/test-support';
import { ADMIN_TOKEN, putRule, startCache, startRedis, startUpstream, type Cache, type Upstream } from './harness.js';
import { digestArb, edgePiece, edgeString, hex, nameArb, referenceArb, validName } from './input-arbitraries.js';
import { expectNo5xx, expectOciError, OCI_ERROR_CODES, specName, specReference } from './oci-wire-checks.js';
import { closeRawHttp, describeAnswer, rawExchange, send, target, type Answer } from './raw-http.js';
import { ScriptedUpstream, sha256 } from './scripted-upstream.js';

/**
 * Property-based tests over everything a client or an operator can type: repository names,
 * references, digests, Range headers, pagination queries, rule definitions, and whatever an
 * upstream serves as a manifest. Real frontend, real docker-registry behind the counting proxy,
 * real Redis; every input goes over real HTTP with the path sent exactly as generated.
 * fast-check picks a new seed on every run and prints it (with the shrunk input) on failure.
 */

const RULE_NAME = /^[A-Za-z0-9-]{5,50}$/;
const DATA_DIR_TOP_LEVEL = ['blobs', 'repositories', 'control', '_uploads', 'admin-token'];
const ALL_MANIFESTS = [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest].join(', ');
const FIXED_RULES = ['fixtures-upstream', 'scripted-upstream'];

// ---- servers shared by the whole file

let redis: RedisServer;
let upstream: Upstream;
let scripted: ScriptedUpstream;
let cache: Cache;
/** Every request at either upstream since the last reset. */
const upstreamRequests = () => [...upstream.proxy.requests.map((r) => `${r.method} ${r.path}`), ...scripted.requests.map((r) => `${r.method} ${r.path} (scripted)`)];
const resetUpstreams = () => {
  upstream.proxy.reset();
  scripted.requests.length = 0;
};

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  scripted = await ScriptedUpstream.start();
  // Hundreds of misses from one address: the per-client miss limit (limits.test.ts's subject) is off here.
  cache = await startCache(redis, [upstream.proxy.host, scripted.host], { PULLTHROUGH_CLIENT_MISS_RATE: '0' });
  expect((await putRule(cache, { name: 'fixtures-upstream', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'up/*' })).status).toBe(201);
  expect((await putRule(cache, { name: 'scripted-upstream', sourceRepository: `${scripted.host}/s/*`, targetRepository: 'sc/*' })).status).toBe(201);
}, 120_000);

afterAll(async () => {
  closeRawHttp();
  await cache?.stop();
  await scripted?.stop();
  await upstream?.stop();
  await redis?.stop();
});

const dataGet = (path: string, headers: Record<string, string> = {}, method = 'GET') => send(cache.dataUrl, method, path, headers);

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

describe('rule definitions on the admin API', () => {
  const admin = (method: string, path: string, body?: string, contentType = 'application/json') =>
    send(cache.adminUrl, method, path, { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': contentType }) }, body);

  test('regression: a path parameter that is not valid percent-encoding is a 400 problem, not a 500', async () => {
    for (const [method, path] of [['PUT', '/api/v1/cache-rules/%up'], ['GET', '/api/v1/cache-rules/%zz'], ['DELETE', '/api/v1/cache-rules/a%']] as const) {
      const a = await admin(method, path, method === 'PUT' ? '{}' : undefined);
      expect({ method, path, status: a.status }).toEqual({ method, path, status: 400 });
      expectProblem(a, `${method} ${path}`);
    }
  });

  test('regression: a valid rule name that starts with "-" is stored (it was a 500: the control store refused it)', async () => {
    const a = await admin('PUT', '/api/v1/cache-rules/-A-AAA', JSON.stringify({ sourceRepository: 'docker.io/a', targetRepository: 'fz/a' }));
    expect({ status: a.status, body: JSON.parse(a.body.toString('utf8')) as unknown }).toEqual({
      status: 201,
      body: { name: '-A-AAA', sourceRepository: 'docker.io/a', targetRepository: 'fz/a' },
    });
    expect((await admin('GET', '/api/v1/cache-rules/-A-AAA')).status).toBe(200);
    expect((await admin('DELETE', '/api/v1/cache-rules/-A-AAA')).status).toBe(204);
  });

  const ruleNameArb = fc
    .oneof(
      fc.stringMatching(/^[A-Za-z0-9-]{5,50}$/),
      fc.string({ unit: 'binary', maxLength: 60 }),
      edgeString,
      fc.constantFrom('abcd', 'a'.repeat(51), '..', '%2e%2e', 'rule%2Fx', 'rule/x', 'valid-name', 'VALID-name-2', '-----'),
    )
    .filter((n) => !FIXED_RULES.includes(n));
  const hostArb = fc.constantFrom('docker.io', 'registry-1.docker.io', 'ghcr.io', 'mcr.microsoft.com', '127.0.0.1:1', 'localhost', 'Quay.io', 'exa mple.com', '[::1]:5000', 'a..b', '');
  const repoText = fc.oneof(validName, edgeString, fc.string({ unit: 'binary', maxLength: 30 }));
  const repositoryArb = fc.oneof(
    fc.tuple(hostArb, repoText, fc.boolean()).map(([h, r, wild]) => `${h}/${r}${wild ? '/*' : ''}`),
    fc.tuple(repoText, fc.boolean()).map(([r, wild]) => `${r}${wild ? '/*' : ''}`),
    fc.anything(),
  );
  const structuredRule = fc.record(
    {
      name: ruleNameArb,
      sourceRepository: repositoryArb,
      targetRepository: repositoryArb,
      credentialSetName: fc.oneof(ruleNameArb, fc.anything()),
      platforms: fc.oneof(fc.constantFrom('pulled', 'all', 'none', []), fc.array(fc.oneof(fc.constantFrom('linux/amd64', 'linux/arm/v7', 'Linux/AMD64', 'linux'), fc.string())), fc.anything()),
      tagFreshnessSeconds: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-1, 0, 315360000, 315360001, 2 ** 53, '60'), fc.anything()),
      upstreamTagNotFound: fc.oneof(fc.constantFrom('report-missing', 'serve-local', 'ignore'), fc.anything()),
      extra: fc.anything(),
    },
    { requiredKeys: [] },
  );
  /** Rules that are valid but for one field now and then, under `fz/` so they never take over the fixed rules' paths. */
  const plausibleRule = fc.record(
    {
      sourceRepository: fc.tuple(fc.constantFrom('docker.io', 'ghcr.io', 'quay.io', 'registry.example.com:5000'), validName, fc.boolean()).map(([h, r, w]) => `${h}/${r}${w ? '/*' : ''}`),
      targetRepository: fc.tuple(validName, fc.boolean()).map(([r, w]) => `fz/${r}${w ? '/*' : ''}`),
      platforms: fc.oneof(fc.constantFrom('pulled', 'all'), fc.uniqueArray(fc.constantFrom('linux/amd64', 'linux/arm64', 'linux/arm/v7', 'windows/amd64'), { minLength: 1 })),
      tagFreshnessSeconds: fc.nat({ max: 315360000 }),
      upstreamTagNotFound: fc.constantFrom('report-missing', 'serve-local'),
    },
    { requiredKeys: ['sourceRepository', 'targetRepository'] },
  );
  const bodyArb: fc.Arbitrary<string> = fc.oneof(
    { arbitrary: plausibleRule.map((v) => JSON.stringify(v)), weight: 5 },
    fc.anything().map((v) => JSON.stringify(v) ?? 'null'),
    fc.object().map((v) => JSON.stringify(v)),
    structuredRule.map((v) => JSON.stringify(v)),
    fc.json(),
    fc.string({ maxLength: 40 }),
  );

  function expectProblem(a: Answer, what: string): void {
    if (!/^application\/problem\+json\b/.test(String(a.headers['content-type']))) throw new Error(`${what}: not problem JSON: ${describeAnswer(a)}`);
    const doc = JSON.parse(a.body.toString('utf8')) as { status?: unknown; title?: unknown; errors?: unknown };
    expect({ what, status: doc.status, title: typeof doc.title }).toEqual({ what, status: a.status, title: 'string' });
    if (doc.errors !== undefined) {
      expect(Array.isArray(doc.errors)).toBe(true);
      for (const e of doc.errors as Array<{ field?: unknown; message?: unknown }>) expect({ what, field: typeof e.field, message: typeof e.message }).toEqual({ what, field: 'string', message: 'string' });
    }
  }

  test('PUT /api/v1/cache-rules/<name> with any body: never 5xx, 4xx are problem JSON with fields, only valid names are created', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(fc.oneof({ arbitrary: fc.stringMatching(/^[A-Za-z0-9-]{5,50}$/), weight: 2 }, ruleNameArb).filter((n) => !FIXED_RULES.includes(n)), bodyArb, fc.constantFrom('application/json', 'application/json', 'text/plain', 'application/merge-patch+json'), async (name, body, contentType) => {
        const path = `/api/v1/cache-rules/${target(name)}`;
        const a = await admin('PUT', path, body, contentType);
        const what = `PUT ${path} ${body.slice(0, 200)}`;
        seen.set(a.status, (seen.get(a.status) ?? 0) + 1);
        expectNo5xx(a, what);
        if (a.status >= 400) return expectProblem(a, what);
        expect([200, 201]).toContain(a.status);
        const created = JSON.parse(a.body.toString('utf8')) as { name: string };
        expect(RULE_NAME.test(created.name)).toBe(true);
        // Keep the rule set to the fixed rules, so later runs and properties see the same routing.
        expect((await admin('DELETE', `/api/v1/cache-rules/${encodeURIComponent(created.name)}`)).status).toBe(204);
      }),
      { numRuns: 300 },
    );
    // Not vacuous: rules were created, and refused for their body (422) and for their name (400).
    expect([201, 400, 422].map((status) => (seen.get(status) ?? 0) > 10)).toEqual([true, true, true]);
    const list = await admin('GET', '/api/v1/cache-rules');
    expect(list.status).toBe(200);
    const names = (JSON.parse(list.body.toString('utf8')) as { cacheRules: Array<{ name: string }> }).cacheRules.map((r) => r.name);
    expect(names.sort()).toEqual([...FIXED_RULES].sort());
  }, 60_000);
});

describe('manifests an upstream serves', () => {
  const mediaTypeArb = fc.oneof(
    fc.constantFrom(MediaType.OciManifest, MediaType.OciIndex, MediaType.DockerManifest, MediaType.DockerManifestList, 'application/vnd.oci.image.config.v1+json', 'application/json', 'text/html', ''),
    fc.string({ maxLength: 30 }),
  );
  const digestField = fc.oneof(hex(64).map((h) => `sha256:${h}`), digestArb, fc.anything());
  const sizeField = fc.oneof(fc.nat(), fc.constantFrom(-1, 0, 2 ** 53, 2 ** 53 - 1, 1e300, 1.5, -0, '12'), fc.anything());
  const descriptorArb = fc.record(
    {
      mediaType: fc.oneof(mediaTypeArb, fc.anything()),
      digest: digestField,
      size: sizeField,
      platform: fc.oneof(fc.record({ os: fc.string(), architecture: fc.string() }), fc.anything()),
      urls: fc.anything(),
      annotations: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.anything()),
      artifactType: fc.oneof(fc.string(), fc.anything()),
    },
    { requiredKeys: ['mediaType', 'digest', 'size'] },
  );
  const manifestDoc = fc.record(
    {
      schemaVersion: fc.oneof(fc.constant(2), fc.constant(2), fc.constantFrom(1, 3, '2', null)),
      mediaType: mediaTypeArb,
      config: fc.oneof(descriptorArb, fc.anything()),
      layers: fc.oneof(fc.array(descriptorArb, { maxLength: 4 }), fc.anything()),
      manifests: fc.oneof(fc.array(descriptorArb, { maxLength: 4 }), fc.anything()),
      subject: fc.oneof(descriptorArb, fc.anything()),
      artifactType: fc.oneof(mediaTypeArb, fc.anything()),
      annotations: fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.anything()),
    },
    { requiredKeys: ['schemaVersion'] },
  );
  /** Well-formed OCI image manifests and indexes with random (well-formed) descriptors: the ones a cache must serve. */
  const goodDescriptor = fc.record({
    mediaType: fc.constantFrom(MediaType.OciManifest, 'application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.config.v1+json'),
    digest: hex(64).map((h) => `sha256:${h}`),
    size: fc.nat(),
  });
  const goodManifest = fc.oneof(
    fc.record({ schemaVersion: fc.constant(2), mediaType: fc.constant(MediaType.OciManifest), config: goodDescriptor, layers: fc.array(goodDescriptor, { maxLength: 5 }) }, { requiredKeys: ['schemaVersion', 'config', 'layers'] }),
    fc.record({ schemaVersion: fc.constant(2), mediaType: fc.constant(MediaType.OciIndex), manifests: fc.array(goodDescriptor, { maxLength: 5 }) }, { requiredKeys: ['schemaVersion', 'manifests'] }),
  );
  const bodyArb = fc.oneof(
    goodManifest.map((d) => Buffer.from(JSON.stringify(d))),
    goodManifest.map((d) => Buffer.from(JSON.stringify(d, null, 2))),
    manifestDoc.map((d) => Buffer.from(JSON.stringify(d))),
    manifestDoc.map((d) => Buffer.from(JSON.stringify(d, null, 3))),
    fc.json().map((s) => Buffer.from(s)),
    fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  );
  const served = fc.record({
    body: bodyArb,
    contentType: fc.option(mediaTypeArb, { nil: undefined }),
    digestHeader: fc.constantFrom('right', 'wrong', 'none', 'garbage'),
    byDigest: fc.boolean(),
  });

  let run = 0;
  const outcomes = { served: 0, refused: 0 };
  test('a pull answers exactly the served bytes with their digest, or MANIFEST_INVALID / DIGEST_INVALID (never 500 UNKNOWN)', async () => {
    await fc.assert(
      fc.asyncProperty(served, async ({ body, contentType, digestHeader, byDigest }) => {
        const repository = `m${++run}`;
        const digest = sha256(body);
        const header = { right: digest, wrong: sha256(Buffer.concat([body, Buffer.from(' ')])), none: undefined, garbage: 'sha256:nope' }[digestHeader];
        const reference = byDigest ? digest : 'latest';
        scripted.serveManifest(`s/${repository}`, reference, { body, ...(contentType === undefined ? {} : { contentType }), ...(header === undefined ? {} : { digestHeader: header }) });
        const a = await dataGet(`/v2/sc/${repository}/manifests/${reference}`, { accept: '*/*' });
        const what = `manifest ${body.toString('utf8').slice(0, 300)} (content-type ${String(contentType)}, digest header ${digestHeader})`;
        if (a.status === 200) {
          expect(a.body.equals(body)).toBe(true);
          expect(a.headers['docker-content-digest']).toBe(digest);
          // By tag the upstream's digest header is all there is to check the bytes against; by digest the reference is.
          if (digestHeader === 'wrong' && !byDigest) throw new Error(`${what}: served although the upstream's digest header did not match`);
          const doc = JSON.parse(body.toString('utf8')) as { schemaVersion?: unknown };
          expect(doc.schemaVersion).toBe(2);
          // Served again, now from local storage: the same bytes.
          const again = await dataGet(`/v2/sc/${repository}/manifests/${digest}`, { accept: '*/*' });
          expect({ status: again.status, same: again.body.equals(body) }).toEqual({ status: 200, same: true });
          outcomes.served++;
          return;
        }
        // A document that is not a manifest: MANIFEST_INVALID (400 in the wire table today; a 502 would say
        // "the upstream's fault" too). Bytes that do not match the upstream's digest: DIGEST_INVALID 502.
        const codes = expectOciError(a);
        const expected = codes[0] === 'DIGEST_INVALID' ? [502] : codes[0] === 'MANIFEST_INVALID' ? [400, 502] : [];
        if (codes.length !== 1 || !expected.includes(a.status)) throw new Error(`${what}: answered ${describeAnswer(a)}`);
        // Refused means not stored: the digest is not served from local storage afterwards either.
        const after = await dataGet(`/v2/sc/${repository}/manifests/${digest}`, { accept: '*/*' });
        expect({ what, status: after.status }).not.toEqual({ what, status: 200 });
        outcomes.refused++;
      }),
      { numRuns: 200 },
    );
    expect({ served: outcomes.served > 10, refused: outcomes.refused > 10 }).toEqual({ served: true, refused: true });
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

  test('the stored rule set still loads: a second frontend on the same data dir starts with the same rules', async () => {
    const second = await startCache(redis, [upstream.proxy.host, scripted.host], {}, {}, cache.dataDir);
    try {
      const a = await send(second.adminUrl, 'GET', '/api/v1/cache-rules', { authorization: `Bearer ${ADMIN_TOKEN}` });
      expect(a.status).toBe(200);
      const names = (JSON.parse(a.body.toString('utf8')) as { cacheRules: Array<{ name: string }> }).cacheRules.map((r) => r.name);
      expect(names.sort()).toEqual([...FIXED_RULES].sort());
    } finally {
      await second.stop();
    }
  }, 30_000);
});
