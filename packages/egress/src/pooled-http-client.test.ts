import { createHash } from 'node:crypto';
import { type CodedError, MiB, BIG, big, sha256, tick, waitFor, httpConnections, httpCloses, httpRequests, rawConnections, rawRequests, tlsCert, httpsPort, newClient, H, R, consume, failureOr } from '../test/pooled-http-servers.js';

jest.setTimeout(20_000);

describe('large bodies', () => {
  it('GET of 32 MiB with Content-Length: every byte in order, and released chunks keep the slab count small', async () => {
    const client = newClient();
    const res = await client.request(H('/big'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe(String(BIG));
    const hash = createHash('sha256');
    let bytes = 0;
    let notLent = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (!client.pool.isHeld(chunk)) notLent++;
      expect(chunk.length).toBeLessThanOrEqual(client.pool.slabSize);
      hash.update(chunk);
      bytes += chunk.length;
      res.body.release(chunk);
    }
    expect(bytes).toBe(BIG);
    expect(hash.digest('hex')).toBe(sha256(big));
    expect(notLent).toBe(0);
    expect(client.pool.made).toBeLessThan(40);
    // Every read is at most one 64 KiB slab: at least 512 reads, nearly all into reused slabs.
    expect(client.pool.made + client.pool.reused).toBeGreaterThanOrEqual(BIG / client.pool.slabSize);
    expect(client.pool.reused).toBeGreaterThan(400);
  });

  it('chunks that are never released are never overwritten (slabs are not reused under a held view)', async () => {
    const client = newClient();
    const n = 4 * MiB;
    const res = await client.request(H(`/sized?n=${n}`));
    const { data, error } = await consume(res.body, { release: false });
    expect(error).toBeUndefined();
    expect(data.length).toBe(n);
    expect(sha256(data)).toBe(sha256(big.subarray(0, n)));
    // Nothing was released, so no slab could be reused.
    expect(client.pool.reused).toBe(0);
  });

  it('GET of 16 MiB over TLS (https server, private CA): body intact', async () => {
    const client = newClient({ tls: { ca: tlsCert } });
    const n = 16 * MiB;
    const res = await client.request(`https://127.0.0.1:${httpsPort}/sized?n=${n}`);
    expect(res.statusCode).toBe(200);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      res.body.release(chunk);
    }
    expect(bytes).toBe(n);
    expect(hash.digest('hex')).toBe(sha256(big.subarray(0, n)));
    expect(client.pool.made).toBeLessThan(40);
  });

  it('TLS without the private CA is refused (certificate verified)', async () => {
    const client = newClient();
    await expect(client.request(`https://127.0.0.1:${httpsPort}/small`)).rejects.toMatchObject({ code: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY/) });
  });

  it('backpressure: a slow reader still gets every byte, and reading pauses instead of filling slabs', async () => {
    const client = newClient();
    const n = 8 * MiB;
    const res = await client.request(H(`/sized?n=${n}`));
    const hash = createHash('sha256');
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      res.body.release(chunk);
      if (++chunks % 4 === 0) await tick(3);
    }
    expect(bytes).toBe(n);
    expect(hash.digest('hex')).toBe(sha256(big.subarray(0, n)));
    // 8 MiB is at least 128 full slabs: a reader that did not pause the socket would hold far more.
    expect(client.pool.made).toBeLessThan(40);
  });

  it('a reader that stops reading for longer than bodyTimeoutMs is not timed out (the timer runs only while the reader wants bytes)', async () => {
    const client = newClient({ bodyTimeoutMs: 300 });
    const n = 8 * MiB;
    const res = await client.request(H(`/sized?n=${n}`));
    const hash = createHash('sha256');
    let bytes = 0;
    let first = true;
    let error: CodedError | undefined;
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
        res.body.release(chunk);
        if (first) {
          first = false;
          await tick(900); // the body is paused by backpressure meanwhile: the server has more to send
        }
      }
    } catch (err) {
      error = err as CodedError;
    }
    expect(error?.code).toBeUndefined();
    expect(bytes).toBe(n);
    expect(hash.digest('hex')).toBe(sha256(big.subarray(0, n)));
  });
});

describe('framing', () => {
  it('chunked Transfer-Encoding from node:http (several writes, no content-length): body intact', async () => {
    const client = newClient();
    const res = await client.request(H('/chunked'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.headers['content-length']).toBeUndefined();
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    const expected = Buffer.concat([Buffer.from('alpha-'), big.subarray(0, 100_000), Buffer.from('-middle-'), big.subarray(100_000, 300_000), Buffer.from('-omega')]);
    expect(data.length).toBe(expected.length);
    expect(data.equals(expected)).toBe(true);
  });

  it('raw chunked response with head and chunk-size lines split across TCP writes', async () => {
    const client = newClient();
    const res = await client.request(R('/split-chunked'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-split']).toBe('yes');
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(data.toString('latin1')).toBe('0123456789abcdefABCDEFGHIJxyz');
  });

  it('chunk extensions and trailers are accepted and not part of the body', async () => {
    const client = newClient();
    const res = await client.request(R('/ext-trailers'));
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(data.toString('latin1')).toBe('hello world');
    expect(res.headers['x-trailer']).toBeUndefined();
  });

  it('HTTP/1.0 body framed by the connection close: body intact', async () => {
    const client = newClient();
    const res = await client.request(R('/http10-close'));
    expect(res.statusCode).toBe(200);
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(data.length).toBe(300_000);
    expect(data.equals(big.subarray(0, 300_000))).toBe(true);
  });

  it('HTTP/1.1 response with neither length nor chunking is framed by the close', async () => {
    const client = newClient();
    const res = await client.request(R('/http11-close'));
    const { data, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(data.toString()).toBe('part one, part two');
  });

  it('identical duplicate Content-Length values are accepted', async () => {
    const client = newClient();
    const res = await client.request(R('/dup-cl-same'));
    expect((await consume(res.body)).data.toString()).toBe('hello');
  });

  it('HEAD: no body even with a Content-Length, the stream ends, and the connection serves the next request', async () => {
    const client = newClient();
    const before = httpConnections;
    const res = await client.request(H('/head'), { method: 'HEAD' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe('1234');
    const { data, chunks, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(chunks).toBe(0);
    expect(data.length).toBe(0);
    expect(res.body.readableEnded).toBe(true);
    const next = await client.request(H('/head'));
    const got = await consume(next.body);
    expect(got.data.equals(Buffer.alloc(1234, 7))).toBe(true);
    expect(httpConnections - before).toBe(1);
    expect(httpRequests.at(-2)?.method).toBe('HEAD');
  });

  it('204: no body, the stream ends', async () => {
    const client = newClient();
    const res = await client.request(H('/204'));
    expect(res.statusCode).toBe(204);
    expect(res.headers['x-route']).toBe('204');
    const { data, chunks, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(chunks).toBe(0);
    expect(data.length).toBe(0);
    expect(res.body.readableEnded).toBe(true);
  });

  it('304 with a Content-Length: no body, the stream ends, and the connection is kept', async () => {
    const client = newClient();
    const before = rawConnections;
    const res = await client.request(R('/304'));
    expect(res.statusCode).toBe(304);
    expect(res.headers.etag).toBe('"abc"');
    const { chunks, error } = await consume(res.body);
    expect(error).toBeUndefined();
    expect(chunks).toBe(0);
    expect(res.body.readableEnded).toBe(true);
    const next = await client.request(R('/raw-ok'));
    expect((await consume(next.body)).data.toString()).toBe('ok');
    expect(rawConnections - before).toBe(1);
  });

  it('1xx interim responses (100, 103 Early Hints) are skipped', async () => {
    const client = newClient();
    const res = await client.request(R('/early-hints'));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-final']).toBe('yes');
    expect(res.headers.link).toBeUndefined();
    expect((await consume(res.body)).data.toString()).toBe('hello');
  });
});

describe('connection reuse', () => {
  it('two sequential GETs to one origin share one TCP connection once the first body was read', async () => {
    const client = newClient();
    const before = httpConnections;
    const first = await client.request(H('/small'));
    expect((await consume(first.body)).data.toString()).toBe('hello');
    const second = await client.request(H('/small'));
    expect((await consume(second.body)).data.toString()).toBe('hello');
    // A chunked response leaves the connection reusable too.
    const third = await client.request(H('/chunked'));
    expect((await consume(third.body)).error).toBeUndefined();
    const fourth = await client.request(H('/small'));
    expect((await consume(fourth.body)).data.toString()).toBe('hello');
    expect(httpConnections - before).toBe(1);
  });

  it('a response with connection: close is not reused', async () => {
    const client = newClient();
    const before = httpConnections;
    const first = await client.request(H('/close'));
    expect((await consume(first.body)).data.toString()).toBe('bye!!');
    const second = await client.request(H('/small'));
    expect((await consume(second.body)).data.toString()).toBe('hello');
    expect(httpConnections - before).toBe(2);
  });

  it('the connection is reused after a chunked body whose many chunks arrived in one read while the reader was not reading', async () => {
    const client = newClient({ headersTimeoutMs: 3000 });
    const before = rawConnections;
    const first = await client.request(R('/many-chunks'));
    await tick(100); // every chunk is in; the body's buffer (16 chunks) is full and reading paused
    const { data, error } = await consume(first.body);
    expect(error).toBeUndefined();
    expect(data.toString()).toBe(Array.from({ length: 40 }, (_, i) => `chunk-${String(i).padStart(4, '0')}`).join(''));
    const requestsBefore = rawRequests.length;
    const second = await failureOr(client.request(R('/raw-ok')));
    // The server did receive (and answer) the second request on the kept connection.
    expect(rawRequests.length - requestsBefore).toBe(1);
    expect(second.error?.code).toBeUndefined();
    expect(second.text).toBe('ok');
    expect(rawConnections - before).toBe(1);
  });

  it('destroying the body mid-way closes the connection; the next request works on a new connection', async () => {
    const client = newClient();
    const connectionsBefore = httpConnections;
    const closesBefore = httpCloses;
    const res = await client.request(H('/big'));
    let seen = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      seen += chunk.length;
      res.body.release(chunk);
      if (seen > MiB) break; // leaving the loop destroys the body
    }
    expect(res.body.destroyed).toBe(true);
    expect(seen).toBeLessThan(BIG);
    await waitFor('the server to see the connection close', () => httpCloses > closesBefore);
    const next = await client.request(H('/small'));
    expect((await consume(next.body)).data.toString()).toBe('hello');
    expect(httpConnections - connectionsBefore).toBe(2);
  });

  it('body.dump() past its limit abandons the connection; below it, keeps it', async () => {
    const client = newClient();
    const before = httpConnections;
    const small = await client.request(H('/sized?n=1000'));
    await small.body.dump();
    const again = await client.request(H('/small'));
    expect((await consume(again.body)).data.toString()).toBe('hello');
    expect(httpConnections - before).toBe(1);
    const large = await client.request(H('/big'));
    await large.body.dump({ limit: 128 * 1024 });
    expect(large.body.destroyed).toBe(true);
    const after = await client.request(H('/small'));
    expect((await consume(after.body)).data.toString()).toBe('hello');
    expect(httpConnections - before).toBe(2);
  });
});

/** A response's body text, or the error of the request or its body. */
