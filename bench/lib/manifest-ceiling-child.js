'use strict';
// The manifest-hit ceiling: a bare node HTTP server that answers every GET under /v2/ with one fixed
// manifest (the bytes and the content headers a proxy sent for it), nothing looked up, checked or logged:
// what any node server on this machine answers under the same load generator. Its own process:
// `node manifest-ceiling-child.js <manifest file> <port> <content type> <digest>`.
const http = require('node:http');
const { readFileSync } = require('node:fs');

const [file, port, contentType, digest] = process.argv.slice(2);
const body = readFileSync(file);
const headers = { 'content-type': contentType, 'docker-content-digest': digest, 'content-length': String(body.length), 'docker-distribution-api-version': 'registry/2.0' };
http
  .createServer((req, res) => {
    if (req.url === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '2' }).end('{}');
      return;
    }
    if (!req.url.startsWith('/v2/')) {
      res.writeHead(404, { 'content-length': '0' }).end();
      return;
    }
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  })
  .listen(Number(port), '127.0.0.1');
