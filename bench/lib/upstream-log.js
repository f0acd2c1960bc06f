'use strict';
// What the upstream registry itself served, read from its log: distribution logs one
// `msg="response completed"` line per request at info level, with method, URI, status and
// `http.response.written` (body bytes). Counting there adds no hop to the measured path.
const { open, stat } = require('node:fs/promises');

const BLOB_URI = /\/blobs\/(sha256:[0-9a-f]{64})$/;

/** The requests of distribution log lines: { method, uri, status, written, blob? }. */
function parseLog(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const written = /\bhttp\.response\.written=(\d+)/.exec(line);
    if (!written) continue;
    const method = /\bhttp\.request\.method=(\S+)/.exec(line)?.[1];
    const uri = /\bhttp\.request\.uri=(?:"([^"]*)"|(\S+))/.exec(line);
    const status = Number(/\bhttp\.response\.status=(\d+)/.exec(line)?.[1] ?? 0);
    const path = (uri?.[1] ?? uri?.[2] ?? '').split('?')[0];
    out.push({ method, uri: path, status, written: Number(written[1]), blob: BLOB_URI.exec(path)?.[1] });
  }
  return out;
}

/** Blob GETs per digest, body bytes of every request, and the request count. */
function tally(requests) {
  const perBlob = new Map();
  let bytes = 0;
  for (const r of requests) {
    bytes += r.written;
    if (r.blob && r.method === 'GET') perBlob.set(r.blob, (perBlob.get(r.blob) ?? 0) + 1);
  }
  return { perBlob, bytes, requests: requests.length };
}

/** Reads `logPath` (the upstream registry's log) from a mark on. */
function upstreamLog(logPath) {
  const readFrom = async (offset) => {
    const handle = await open(logPath, 'r');
    try {
      const { size } = await handle.stat();
      const buf = Buffer.alloc(Math.max(0, size - offset));
      if (buf.length) await handle.read(buf, 0, buf.length, offset);
      // Only whole lines: a line being written stays for the next read.
      const text = buf.toString('utf8');
      return text.slice(0, text.lastIndexOf('\n') + 1);
    } finally {
      await handle.close();
    }
  };
  return {
    /** Where the log ends now. */
    mark: async () => (await stat(logPath)).size,
    /**
     * What was served since `mark`: { perBlob, bytes, requests }. `expect`: blob digests each GET at
     * least once; waits (up to `timeoutMs`) for their lines, which the registry writes as each response ends.
     */
    async since(mark, { expect = [], timeoutMs = 3_000 } = {}) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const t = tally(parseLog(await readFrom(mark)));
        if (expect.every((d) => t.perBlob.has(d)) || Date.now() > deadline) return t;
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** GETs per blob of `image` (0 where none) and upstream bytes as a multiple of the image's size. */
function upstreamFigures(t, image) {
  const gets = image.blobs.map((b) => t.perBlob.get(b.digest) ?? 0);
  return { gets, getsPerBlobMax: Math.max(...gets), getsPerBlobMean: gets.reduce((a, b) => a + b, 0) / gets.length, upstreamBytesRatio: t.bytes / image.totalBytes, upstreamRequests: t.requests };
}

module.exports = { parseLog, tally, upstreamLog, upstreamFigures };
