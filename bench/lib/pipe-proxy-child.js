'use strict';
// A bare node reverse proxy (http.request + pipe, keep-alive): what any node proxy on this machine
// can move without hashing or storing. Run as its own process: `node pipe-proxy-child.js <targetUrl> <port>`.
const http = require('node:http');

const [targetUrl, port] = process.argv.slice(2);
const target = new URL(targetUrl);
const agent = new http.Agent({ keepAlive: true });
http
  .createServer((req, res) => {
    const headers = { ...req.headers, host: target.host };
    const up = http.request({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, agent, headers }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(up);
  })
  .listen(Number(port), '127.0.0.1');
