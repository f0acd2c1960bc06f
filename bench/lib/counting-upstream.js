'use strict';
// A reverse proxy in front of the upstream that records every request and the body bytes it
// carried back (the herd scenario's "upstream GETs per blob" and "upstream bytes").
const http = require('node:http');

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding']);
const BLOB_PATH = /\/blobs\/(sha256:[0-9a-f]{64})$/;

function headersOf(raw, host) {
  const out = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(k)) continue;
    const v = k === 'host' && host ? host : raw[i + 1];
    // Repeated headers (distribution sends one Accept line per media type) stay repeated.
    out[k] = out[k] === undefined ? v : [].concat(out[k], v);
  }
  return out;
}

async function startCountingUpstream(targetUrl) {
  const target = new URL(targetUrl);
  const agent = new http.Agent({ keepAlive: true });
  const requests = [];
  const server = http.createServer((req, res) => {
    const record = { method: req.method, path: req.url, status: 0, bytes: 0 };
    const m = BLOB_PATH.exec(req.url.split('?')[0]);
    if (m) record.blob = m[1];
    requests.push(record);
    const up = http.request({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, agent, headers: headersOf(req.rawHeaders, target.host) });
    up.on('response', (upRes) => {
      record.status = upRes.statusCode;
      res.writeHead(upRes.statusCode, headersOf(upRes.rawHeaders));
      upRes.on('data', (chunk) => (record.bytes += chunk.length));
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    res.on('close', () => !res.writableFinished && up.destroy());
    req.pipe(up);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    reset: () => void requests.splice(0),
    /** Blob GETs (any status) per digest, and body bytes of all requests. */
    tally() {
      const perBlob = new Map();
      let bytes = 0;
      for (const r of requests) {
        bytes += r.bytes;
        if (r.blob && r.method === 'GET') perBlob.set(r.blob, (perBlob.get(r.blob) ?? 0) + 1);
      }
      return { perBlob, bytes, total: requests.length };
    },
    stop: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}

module.exports = { startCountingUpstream };
