'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { mkdtemp, rm, appendFile } = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { parseLog, upstreamLog, upstreamFigures } = require('../lib/upstream-log.js');

const digest = (c) => `sha256:${c.repeat(64)}`;
// Lines as Debian's docker-registry 2.8 writes them at info level (shortened).
const line = (method, uri, status, written) =>
  `time="2026-12-02T01:56:21.02Z" level=info msg="response completed" go.version=go1.19.8 http.request.host="127.0.0.1:46755" http.request.method=${method} http.request.uri="${uri}" http.request.useragent=node http.response.duration=4.09ms http.response.status=${status} http.response.written=${written}\n`;

test('parseLog reads method, path, status and body bytes of each completed response', () => {
  const text = `${line('GET', `/v2/bench/x/blobs/${digest('a')}`, 200, 101888)}time="x" level=info msg="something else"\n${line('HEAD', '/v2/bench/x/manifests/v1', 200, 0)}`;
  assert.deepEqual(parseLog(text), [
    { method: 'GET', uri: `/v2/bench/x/blobs/${digest('a')}`, status: 200, written: 101888, blob: digest('a') },
    { method: 'HEAD', uri: '/v2/bench/x/manifests/v1', status: 200, written: 0, blob: undefined },
  ]);
  // An unquoted URI (distribution quotes only what needs it).
  assert.equal(parseLog(line('GET', '/v2/', 200, 2).replace('"/v2/"', '/v2/'))[0].uri, '/v2/');
});

test('since(mark) counts only what was logged after the mark, GETs per blob and bytes', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-upstream-log-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'registry.log');
  await appendFile(file, line('GET', `/v2/bench/x/blobs/${digest('a')}`, 200, 1000));
  const log = upstreamLog(file);
  const mark = await log.mark();
  await appendFile(file, line('GET', `/v2/bench/x/blobs/${digest('a')}`, 206, 500) + line('GET', `/v2/bench/x/blobs/${digest('b')}`, 200, 300) + line('GET', '/v2/bench/x/manifests/v1', 200, 90) + 'partial line without newline http.response.written=999');
  const t1 = await log.since(mark, { expect: [digest('a'), digest('b')] });
  assert.deepEqual([...t1.perBlob], [[digest('a'), 1], [digest('b'), 1]]);
  assert.equal(t1.bytes, 890);
  assert.equal(t1.requests, 3);
  const image = { blobs: [{ digest: digest('a') }, { digest: digest('b') }, { digest: digest('c') }], totalBytes: 1780 };
  assert.deepEqual(upstreamFigures(t1, image), { gets: [1, 1, 0], getsPerBlobMax: 1, getsPerBlobMean: 2 / 3, upstreamBytesRatio: 0.5, upstreamRequests: 3 });
});
