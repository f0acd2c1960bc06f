'use strict';
// A shaped link in front of an upstream: one bandwidth shared by every response body, and a round-trip
// time paid like on a real path (a new connection costs one RTT before its first request leaves, each
// request/response one more). Streams only: a body is read from the upstream as fast as the link lets
// it out, so memory stays at a few socket and stream buffers per connection, whatever the body size.
const http = require('node:http');
const { pipeline, Transform } = require('node:stream');
const { performance } = require('node:perf_hooks');

/** A body goes onto the link in slices of at most this much (a socket read is 64 KiB), so concurrent bodies interleave. */
const SLICE = 64 * 1024;
/** After idle the link lets this much time's worth of bytes through at once: timer lateness then costs no bandwidth. */
const SLACK_MS = 5;
/** Bytes whose slot ends less than this far ahead leave at once (fewer timers; the slack evens it out). */
const MIN_SLEEP_MS = 2;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One link's bandwidth on a virtual clock: each slice reserves its serialization time, FIFO. */
class Link {
  constructor(bytesPerSecond) {
    this.bytesPerSecond = bytesPerSecond;
    this.clock = 0;
  }

  /** Milliseconds until `bytes` have crossed the link (0 when it is unlimited). */
  reserve(bytes) {
    if (!(this.bytesPerSecond > 0)) return 0;
    const now = performance.now();
    this.clock = Math.max(this.clock, now - SLACK_MS) + (bytes * 1000) / this.bytesPerSecond;
    return this.clock - now;
  }

  /** A pass-through stream whose output leaves at the link's pace (no promise or timer while the link keeps up). */
  pace() {
    const link = this;
    return new Transform({
      transform(chunk, _encoding, callback) {
        if (!(link.bytesPerSecond > 0)) return callback(null, chunk);
        let offset = 0;
        const next = () => {
          while (offset < chunk.length) {
            const slice = offset === 0 && chunk.length <= SLICE ? chunk : chunk.subarray(offset, offset + SLICE);
            offset += slice.length;
            const wait = link.reserve(slice.length);
            if (wait >= MIN_SLEEP_MS) {
              setTimeout(() => {
                this.push(slice);
                next();
              }, wait);
              return;
            }
            this.push(slice);
          }
          callback();
        };
        next();
      },
    });
  }
}

function forwardHeaders(raw, host) {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    out.push(raw[i], name === 'host' && host ? host : raw[i + 1]);
  }
  return out;
}

/**
 * An http.Server (not listening) that forwards every request to `targetUrl` through a link of
 * `bytesPerSecond` (0: unlimited) and `rttMs` round-trip time. Request bodies pass unshaped (the bench
 * pulls only). `stats` counts what crossed the link.
 */
function createShapingServer(targetUrl, { bytesPerSecond = 0, rttMs = 0 } = {}) {
  const target = new URL(targetUrl);
  if (target.protocol !== 'http:') throw new Error(`shaping proxy: only http:// targets, got ${targetUrl}`);
  const agent = new http.Agent({ keepAlive: true });
  const link = new Link(bytesPerSecond);
  const oneWay = rttMs / 2;
  const stats = { connections: 0, requests: 0, bodyBytes: 0 };
  const readyAt = new WeakMap();

  const server = http.createServer(async (req, res) => {
    stats.requests++;
    // The request crosses the link: half a round trip, after the handshake if the connection is new.
    const wait = Math.max(0, (readyAt.get(req.socket) ?? 0) - performance.now()) + oneWay;
    if (wait >= 1) await sleep(wait);
    if (req.socket.destroyed) return;
    const up = http.request({ hostname: target.hostname, port: target.port, method: req.method, path: req.url, agent, headers: forwardHeaders(req.rawHeaders, target.host) });
    up.on('response', async (upRes) => {
      if (oneWay >= 1) await sleep(oneWay); // the response's way back; the body stays in socket buffers meanwhile
      if (res.destroyed) return void upRes.destroy();
      res.writeHead(upRes.statusCode, upRes.statusMessage, forwardHeaders(upRes.rawHeaders));
      const paced = link.pace();
      paced.on('data', (chunk) => (stats.bodyBytes += chunk.length));
      pipeline(upRes, paced, res, () => undefined);
    });
    up.on('error', () => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'shaping proxy: upstream connection failed' }] }));
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  server.on('connection', (socket) => {
    stats.connections++;
    readyAt.set(socket, performance.now() + rttMs); // SYN, SYN-ACK: the first request leaves one RTT after connect
  });
  // Idle upstream connections stay open long enough for a pull's pauses (real registries: 60-75 s).
  server.keepAliveTimeout = 65_000;
  server.on('close', () => agent.destroy());
  return { server, stats, link };
}

module.exports = { createShapingServer, Link };
