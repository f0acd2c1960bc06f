import fc from 'fast-check';
import { MediaType } from '@pullthrough/oci';
import { ADMIN_TOKEN, startCache } from './harness.js';
import { digestArb, edgeString, hex, validName } from './input-arbitraries.js';
import { expectNo5xx, expectOciError } from './oci-wire-checks.js';
import { cache, dataGet, FIXED_RULES, redis, RULE_NAME, scripted, upstream, useSharedServers } from './property-servers.js';
import { describeAnswer, send, target, type Answer } from './raw-http.js';
import { sha256 } from './scripted-upstream.js';

/**
 * Property-based tests over what an operator and an upstream can send: rule definitions on the
 * admin API, and whatever an upstream serves as a manifest. Same servers as input-properties.test.ts
 * (property-servers.ts), started for this file.
 */

useSharedServers();

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
  /** ACR's read-only envelope and its credentialSetResourceId, right or wrong. */
  const acrFields = fc.record(
    {
      id: fc.oneof(fc.constant('/subscriptions/1/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r/cacheRules/other-rule'), fc.anything()),
      type: fc.oneof(fc.constantFrom('Microsoft.ContainerRegistry/registries/cacheRules', 'Microsoft.ContainerRegistry/registries/credentialSets'), fc.anything()),
      systemData: fc.oneof(fc.constant({ createdByType: 'User' }), fc.anything()),
      provisioningState: fc.oneof(fc.constant('Succeeded'), fc.anything()),
      credentialSetResourceId: fc.oneof(fc.constantFrom(null, '/subscriptions/1/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r/credentialSets/no-such-set'), fc.anything()),
      identity: fc.anything(),
    },
    { requiredKeys: [] },
  );
  const bodyArb: fc.Arbitrary<string> = fc.oneof(
    { arbitrary: plausibleRule.map((v) => JSON.stringify(v)), weight: 5 },
    // ACR's shapes: ARM's {"properties": ...} and az's flat output.
    fc.tuple(acrFields, fc.oneof(plausibleRule, structuredRule, fc.anything())).map(([acr, properties]) => JSON.stringify({ ...acr, properties })),
    fc.tuple(acrFields, plausibleRule).map(([acr, rule]) => JSON.stringify({ ...rule, ...acr })),
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


describe('the stored rule set', () => {
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
