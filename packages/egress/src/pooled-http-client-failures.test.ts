import { EgressDeniedError } from './egress-denied-error.js';
import { EgressPolicy } from './egress-policy.js';
import { InvalidResponseError } from './http1-response-parser.js';
import type { PooledBody } from './pooled-body.js';
import type { PooledHttpOptions } from './pooled-http-client.js';
import { type CodedError, MiB, BIG, manyChunks, tick, waitFor, type  SeenRequest, httpPort, httpConnections, httpRequests, rawPort, rawCloses, rawRequests, tlsCert, httpsPort, newClient, H, R, consume, failure, failureOr } from '../test/pooled-http-servers.js';

jest.setTimeout(20_000);


describe('malformed responses', () => {
  // Either the request rejects or (head delivered first) its body is destroyed, with InvalidResponseError;
  // never an 'error' the caller had no chance to listen for (jest reports that as "Unhandled error").
  it.each([
    ['bad status line', '/bad-status'],
    ['header line without a colon', '/no-colon'],
    ['both Content-Length and Transfer-Encoding', '/cl-and-te'],
    ['conflicting duplicate Content-Length', '/dup-cl'],
    ['unknown transfer coding', '/gzip-te'],
  ])('%s: InvalidResponseError (request or body), no unhandled error, and the connection is closed', async (_what, path) => {
    const client = newClient();
    const closesBefore = rawCloses;
    const { error } = await failure(client.request(R(path)));
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    await waitFor('the server to see the connection close', () => rawCloses > closesBefore);
  });

  it('a head larger than maxHeadBytes rejects', async () => {
    const client = newClient({ maxHeadBytes: 4096 });
    const { stage, error } = await failure(client.request(R('/big-head')));
    expect(stage).toBe('request');
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
    expect(error.message).toMatch(/head larger than 4096/);
  });

  it('a head that keeps growing past maxHeadBytes (never terminated) rejects without waiting for its end', async () => {
    const client = newClient({ maxHeadBytes: 4096, headersTimeoutMs: 5000 });
    const started = Date.now();
    const { stage, error } = await failure(client.request(R('/endless-head')));
    expect(stage).toBe('request');
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('the default maxHeadBytes (64 KiB) accepts an 8 KB header', async () => {
    const client = newClient();
    const res = await client.request(R('/big-head'));
    expect(res.headers['x-big']).toBe('a'.repeat(8000));
    expect((await consume(res.body)).data.toString()).toBe('ok');
  });

  it('a bad chunk size in the same TCP read as the head: InvalidResponseError (request or body), no unhandled error', async () => {
    const client = newClient();
    const { error } = await failure(client.request(R('/bad-chunk-one-write')));
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
  });

  it('a bad chunk size destroys the body with InvalidResponseError after the good chunk', async () => {
    const client = newClient();
    const res = await client.request(R('/bad-chunk'));
    expect(res.statusCode).toBe(200);
    const { data, error } = await consume(res.body);
    expect(data.toString()).toBe('hello');
    expect(error).toBeInstanceOf(InvalidResponseError);
    expect(error?.code).toBe('ERR_UPSTREAM_INVALID_RESPONSE');
  });
});

describe('truncation', () => {
  it('Content-Length 1000 but 10 bytes and a close: the body errors with UND_ERR_RES_CONTENT_LENGTH_MISMATCH', async () => {
    const client = newClient();
    const res = await client.request(R('/truncated'));
    expect(res.statusCode).toBe(200);
    const { data, error } = await consume(res.body);
    expect(data.toString()).toBe('0123456789');
    expect(error?.code).toBe('UND_ERR_RES_CONTENT_LENGTH_MISMATCH');
  });

  it('connection closed before the head: the request rejects with UND_ERR_SOCKET', async () => {
    const client = newClient();
    await expect(client.request(R('/close-before-head'))).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
  });

  it('connection closed inside the head: the request rejects with UND_ERR_SOCKET', async () => {
    const client = newClient();
    await expect(client.request(R('/close-inside-head'))).rejects.toMatchObject({ code: 'UND_ERR_SOCKET' });
  });
});

describe('timeouts and abort', () => {
  it('headersTimeoutMs: a server that never answers rejects with UND_ERR_HEADERS_TIMEOUT', async () => {
    const client = newClient({ headersTimeoutMs: 200 });
    const started = Date.now();
    await expect(client.request(H('/never'))).rejects.toMatchObject({ code: 'UND_ERR_HEADERS_TIMEOUT' });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(150);
    expect(took).toBeLessThan(5000);
  });

  it('bodyTimeoutMs: a head then nothing errors the body with UND_ERR_BODY_TIMEOUT', async () => {
    const client = newClient({ bodyTimeoutMs: 200 });
    const res = await client.request(H('/stall'));
    expect(res.statusCode).toBe(200);
    const started = Date.now();
    const { error } = await consume(res.body);
    expect(error?.code).toBe('UND_ERR_BODY_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('aborting while waiting for the head rejects with UND_ERR_ABORTED', async () => {
    const client = newClient();
    const ac = new AbortController();
    const requestsBefore = httpRequests.length;
    const p = client.request(H('/never'), { signal: ac.signal });
    await waitFor('the server to receive the request', () => httpRequests.length > requestsBefore);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'UND_ERR_ABORTED' });
  });

  it('aborting right after the call (while connecting) rejects the request', async () => {
    const client = newClient({ headersTimeoutMs: 3000 });
    const ac = new AbortController();
    const p = failureOr(client.request(H('/small'), { signal: ac.signal }));
    ac.abort();
    const { text, error } = await p;
    expect(text).toBeUndefined();
    expect(error?.code === 'UND_ERR_ABORTED' || error?.name === 'AbortError').toBe(true);
  });

  it('an already aborted signal rejects before anything is sent', async () => {
    const client = newClient();
    const before = httpConnections;
    await expect(client.request(H('/small'), { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'UND_ERR_ABORTED' });
    await tick(50);
    expect(httpConnections).toBe(before);
  });

  it('aborting during the body errors the body', async () => {
    const client = newClient();
    const ac = new AbortController();
    const res = await client.request(H('/big'), { signal: ac.signal });
    let seen = 0;
    let error: CodedError | undefined;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        seen += chunk.length;
        res.body.release(chunk);
        if (seen > MiB && !ac.signal.aborted) ac.abort();
      }
    } catch (err) {
      error = err as CodedError;
    }
    expect(error?.code).toBe('UND_ERR_ABORTED');
    expect(seen).toBeLessThan(BIG);
  });
});

describe('request validation', () => {
  it.each<[string, Record<string, string>]>([
    ['a value with CRLF', { 'x-evil': 'a\r\nx-injected: 1' }],
    ['a value with a bare LF', { 'x-evil': 'a\nb' }],
    ['a value with NUL', { 'x-evil': 'a\0b' }],
    ['host', { host: 'elsewhere.example' }],
    ['Host (any case)', { Host: 'elsewhere.example' }],
    ['connection', { connection: 'close' }],
    ['transfer-encoding', { 'transfer-encoding': 'chunked' }],
    ['content-length', { 'content-length': '5' }],
    ['a header name with a space', { 'bad name': 'x' }],
    ['a header name with a colon', { 'x:y': 'x' }],
    ['an empty header name', { '': 'x' }],
  ])('%s throws TypeError and nothing is sent', async (_what, headers) => {
    const client = newClient();
    const connections = httpConnections;
    const requests = httpRequests.length;
    await expect(client.request(H('/echo'), { headers })).rejects.toThrow(TypeError);
    await tick(30);
    expect(httpConnections).toBe(connections);
    expect(httpRequests.length).toBe(requests);
  });

  it('a URL with credentials throws TypeError and nothing is sent', async () => {
    const client = newClient();
    const connections = httpConnections;
    await expect(client.request(`http://u:p@127.0.0.1:${httpPort}/small`)).rejects.toThrow(TypeError);
    await expect(client.request(`http://u@127.0.0.1:${httpPort}/small`)).rejects.toThrow(TypeError);
    await tick(30);
    expect(httpConnections).toBe(connections);
  });

  it('an ftp: URL throws TypeError', async () => {
    const client = newClient();
    await expect(client.request('ftp://127.0.0.1/file')).rejects.toThrow(TypeError);
  });

  it('the server receives the method, path with query, host header and custom headers asked for', async () => {
    const client = newClient();
    const res = await client.request(H('/echo?a=1&b=two%20words'), { headers: { 'x-custom': 'v1', Accept: 'application/json', 'user-agent': 'pooled-test' } });
    const seen = JSON.parse((await consume(res.body)).data.toString()) as SeenRequest;
    expect(seen.method).toBe('GET');
    expect(seen.url).toBe('/echo?a=1&b=two%20words');
    expect(seen.headers.host).toBe(`127.0.0.1:${httpPort}`);
    expect(seen.headers['x-custom']).toBe('v1');
    expect(seen.headers.accept).toBe('application/json');
    expect(seen.headers['user-agent']).toBe('pooled-test');
    expect(seen.headers['content-length']).toBeUndefined();
    expect(seen.headers['transfer-encoding']).toBeUndefined();

    const head = await client.request(H('/echo?x=y'), { method: 'HEAD' });
    await consume(head.body);
    expect(httpRequests.at(-1)).toMatchObject({ method: 'HEAD', url: '/echo?x=y' });
  });

  it('the request line on the wire is exactly "GET <path?query> HTTP/1.1" with a host header', async () => {
    const client = newClient();
    const res = await client.request(R('/raw-ok?q=1&r=%2F'), { headers: { 'X-Case': 'Kept' } });
    expect((await consume(res.body)).data.toString()).toBe('ok');
    const req = rawRequests.at(-1)!;
    const lines = req.head.split('\r\n');
    expect(lines[0]).toBe('GET /raw-ok?q=1&r=%2F HTTP/1.1');
    expect(lines.map((l) => l.toLowerCase())).toContain(`host: 127.0.0.1:${rawPort}`);
    expect(lines).toContain('x-case: Kept');
  });
});

describe('egress policy', () => {
  it('a policy that refuses loopback rejects an IP-literal URL with EgressDeniedError; the server sees no connection', async () => {
    const client = newClient({}, new EgressPolicy());
    const before = httpConnections;
    const err = await client.request(H('/small')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressDeniedError);
    expect((err as EgressDeniedError).code).toBe('EGRESS_DENIED');
    expect((err as EgressDeniedError).detail).toMatchObject({ host: '127.0.0.1', address: '127.0.0.1', port: httpPort, addressCategory: 'loopback' });
    await tick(50);
    expect(httpConnections).toBe(before);
  });

  it('a name is resolved through the policy: localhost -> 127.0.0.1 is refused; the server sees no connection', async () => {
    const asked: string[] = [];
    const refusing = new EgressPolicy({ resolve: async (h) => (asked.push(h), h === 'localhost' ? ['127.0.0.1'] : []) });
    const client = newClient({}, refusing);
    const before = httpConnections;
    const err = await client.request(`http://localhost:${httpPort}/small`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressDeniedError);
    expect((err as EgressDeniedError).detail).toMatchObject({ host: 'localhost', address: '127.0.0.1', addressCategory: 'loopback' });
    expect(asked).toContain('localhost');
    await tick(50);
    expect(httpConnections).toBe(before);
  });

  it('localhost with the system resolver and no allow-list is refused too', async () => {
    const client = newClient({}, new EgressPolicy());
    const before = httpConnections;
    const err = await client.request(`http://localhost:${httpPort}/small`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EgressDeniedError);
    await tick(50);
    expect(httpConnections).toBe(before);
  });

  it('an allowed name is dialled at the address the policy resolved', async () => {
    const named = new EgressPolicy({ allow: '127.0.0.1', resolve: async (h) => (h === 'upstream.test' ? ['127.0.0.1'] : []) });
    const client = newClient({}, named);
    const res = await client.request(`http://upstream.test:${httpPort}/echo`);
    const seen = JSON.parse((await consume(res.body)).data.toString()) as SeenRequest;
    expect(seen.headers.host).toBe(`upstream.test:${httpPort}`);
  });
});

describe('review fixes (nineteenth session)', () => {
  /** Read a body slowly (a turn of the event loop per chunk, like a disk writer), releasing each chunk. */
  async function readSlowly(body: PooledBody): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) {
      parts.push(Buffer.from(chunk));
      body.release(chunk);
      await new Promise((r) => setImmediate(r));
    }
    return Buffer.concat(parts);
  }

  it('TLS, chunked, a slow reader: every byte in order (records decrypted after a pause are queued, not fed ahead)', async () => {
    const client = newClient({ tls: { ca: tlsCert } });
    for (let i = 0; i < 3; i++) {
      const res = await client.request(`https://127.0.0.1:${httpsPort}/many-chunks`);
      expect(res.statusCode).toBe(200);
      expect((await readSlowly(res.body)).equals(manyChunks)).toBe(true);
    }
    await client.close();
  });

  it('TLS, chunked, connection: close, a slow reader: the whole body, then the end', async () => {
    const client = newClient({ tls: { ca: tlsCert } });
    const res = await client.request(`https://127.0.0.1:${httpsPort}/many-chunks?close`);
    expect((await readSlowly(res.body)).equals(manyChunks)).toBe(true);
    await client.close();
  });

  it('the body timeout still fires after the body paused once (a reader that waited, then an upstream that stalls)', async () => {
    const client = newClient({ bodyTimeoutMs: 300 });
    const res = await client.request(H('/burst-then-stall'));
    // Nobody reads for a while: the body's buffer fills and the read pauses.
    await tick(200);
    let got = 0;
    const started = Date.now();
    const read = (async () => {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        got += chunk.length;
        res.body.release(chunk);
      }
    })();
    await expect(read).rejects.toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
    expect(got).toBe(2 * MiB);
    expect(Date.now() - started).toBeLessThan(3000);
    await client.close();
  });

  it('packs a socket\'s reads into shared slabs: a TLS body of 16 KiB records does not take a slab per read', async () => {
    const client = newClient({ tls: { ca: tlsCert } });
    const res = await client.request(`https://127.0.0.1:${httpsPort}/sized?n=${4 * MiB}`);
    let reads = 0;
    const slabs = new Set<ArrayBufferLike>();
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      reads++;
      slabs.add(chunk.buffer);
      // Held, not released: every slab the body used stays its own.
    }
    // 4 MiB in records of at most 16 KiB: at least 256 reads, in about a quarter as many slabs.
    expect(reads).toBeGreaterThanOrEqual(256);
    expect(slabs.size).toBeLessThan(reads / 2);
    await client.close();
  });

  it('TLS options cannot loosen verification: rejectUnauthorized false is not taken', async () => {
    const client = newClient({ tls: { rejectUnauthorized: false } as unknown as PooledHttpOptions['tls'] });
    await expect(client.request(`https://127.0.0.1:${httpsPort}/small`)).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY/) });
    await client.close();
  });

  it('refuses a method other than GET or HEAD at run time, a header given twice in any case, and port 0', async () => {
    const client = newClient();
    const before = rawRequests.length;
    await expect(client.request(R('/raw-ok'), { method: 'GET / HTTP/1.1\r\nx: y' as 'GET' })).rejects.toThrow(TypeError);
    await expect(client.request(R('/raw-ok'), { headers: { Authorization: 'a', authorization: 'b' } })).rejects.toThrow(/given twice/);
    await expect(client.request(`http://127.0.0.1:0/raw-ok`)).rejects.toThrow(/port 0/);
    await tick(30);
    expect(rawRequests.length).toBe(before);
    await client.close();
  });

  it('takes __proto__ and constructor headers as plain headers', async () => {
    const client = newClient();
    const res = await client.request(R('/proto-header'));
    expect(Object.getPrototypeOf(res.headers)).toBeNull();
    expect(res.headers['__proto__']).toEqual(['a', 'b']);
    expect(res.headers['constructor']).toBe('c');
    expect(await res.body.text()).toBe('ok');
    await client.close();
  });

  it('refuses 101, more than 10 interim responses, trailers beyond the head limit and a length with a vertical tab', async () => {
    const client = newClient({ maxHeadBytes: 8 * 1024 });
    await expect(client.request(R('/switching'))).rejects.toBeInstanceOf(InvalidResponseError);
    await expect(client.request(R('/many-interim'))).rejects.toBeInstanceOf(InvalidResponseError);
    await expect(client.request(R('/vt-length'))).rejects.toBeInstanceOf(InvalidResponseError);
    const res = await client.request(R('/long-trailers'));
    await expect(res.body.text()).rejects.toBeInstanceOf(InvalidResponseError);
    await client.close();
  });
});
