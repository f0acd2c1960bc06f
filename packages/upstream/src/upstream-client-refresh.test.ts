import { MediaType } from '@pullthrough/oci';
import { EgressPolicy } from '@pullthrough/egress';
import { basicAuth, sendJson, startFakeUpstream, type FakeUpstream } from '../test/fake-upstream.js';
import { UpstreamClient } from './upstream-client.js';

/** Test upstreams listen on loopback: the egress policy lets them through explicitly. */
const LOOPBACK = new EgressPolicy({ allow: '127.0.0.1' });

const MANIFEST = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, layers: [] }));

describe('UpstreamClient after the upstream refuses our credentials', () => {
  let upstream: FakeUpstream;
  let client: UpstreamClient | undefined;
  let password = 'old-password';
  afterEach(async () => {
    await client?.close();
    await upstream?.close();
  });

  /** A basic-auth registry whose password is `password` at the time of the request. */
  async function basicRegistry(): Promise<FakeUpstream> {
    return startFakeUpstream((req, res) => {
      if (req.headers['authorization'] === basicAuth('puller', password)) {
        res.writeHead(200, { 'content-type': MediaType.OciManifest, 'content-length': String(MANIFEST.length) });
        res.end(MANIFEST);
        return;
      }
      sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }, { 'www-authenticate': 'Basic realm="fake"' });
    });
  }

  it('forgets, looks the credentials up again and retries once: a rotated password works', async () => {
    upstream = await basicRegistry();
    let cached: string | undefined;
    let lookups = 0;
    let rejected = 0;
    client = new UpstreamClient({
      registry: upstream.host,
      insecure: true,
      egress: LOOPBACK,
      credentials: async () => {
        lookups++;
        cached ??= password;
        return { username: 'puller', password: cached };
      },
      onCredentialsRejected: () => {
        rejected++;
        cached = undefined;
      },
    });
    expect((await client.getManifest('library/node', 'v1')).kind).toBe('ok');
    password = 'new-password';
    expect((await client.getManifest('library/node', 'v1')).kind).toBe('ok');
    expect(rejected).toBe(1);
    expect(lookups).toBeGreaterThanOrEqual(3);
  });

  it('still answers unauthorized, after exactly one refresh, when the new credentials are wrong too', async () => {
    password = 'right-password';
    upstream = await basicRegistry();
    let rejected = 0;
    client = new UpstreamClient({
      registry: upstream.host,
      insecure: true,
      egress: LOOPBACK,
      credentials: async () => ({ username: 'puller', password: 'wrong-password' }),
      onCredentialsRejected: () => void rejected++,
    });
    const answer = await client.getManifest('library/node', 'v1');
    expect(answer.kind).toBe('unauthorized');
    expect(rejected).toBe(1);
  });
});
