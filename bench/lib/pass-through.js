'use strict';
// The request handler the bench's node proxies share (bench/lib/*-child.js): the request passed on to
// `target` as it came (method, path, headers with `host` rewritten, body piped) over a kept-alive agent,
// the answer piped back; `502` when the upstream cannot be reached before any header was sent.
const http = require('node:http');

/** `(req, res) => void` passing each request through to `target` (a URL) with `agent`. */
function passThroughTo(target, agent) {
  return (req, res) => {
    const up = http.request({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, agent, headers: { ...req.headers, host: target.host } }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(up);
  };
}

module.exports = { passThroughTo };
