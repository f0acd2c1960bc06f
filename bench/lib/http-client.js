'use strict';
// The bench's HTTP/1.1 client: GETs over keep-alive connections, each reading its socket into one buffer of its
// own that it reuses for every read (net's `onread`), the body handed to a callback as views of that buffer.
// A client that allocates a fresh buffer per socket read (node's default, so undici's) pays for the allocation,
// fresh pages and the garbage collector per 64 KiB received: on this 2-core machine one such process pulling a
// stored 512 MiB layer spent 0.25-0.81 CPU s on it (most pulls a whole core over the pull) and set the pace of
// every proxy it measured; reading into one reused buffer it spends 0.06-0.18 (twenty-fifth session,
// `bench/profile-warm.js`; README, *The bench client set the pace*).
// Bodies with Content-Length, chunked, or up to the connection's end; no redirects, no pipelining.
const net = require('node:net');

/** Bytes read from the socket at most per read (one buffer per connection, reused). */
const READ_BUFFER_BYTES = 256 * 1024;

class HttpError extends Error {}

/**
 * One keep-alive connection to `origin` (http://host:port), connected on its first request and again after
 * the server closed it. One request at a time.
 */
class Connection {
  constructor(origin, { timeoutMs = 300_000, readBufferBytes = READ_BUFFER_BYTES } = {}) {
    const url = new URL(origin);
    if (url.protocol !== 'http:') throw new HttpError(`http-client: only http:// origins, got ${origin}`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.hostHeader = url.host;
    this.timeoutMs = timeoutMs;
    this.buffer = Buffer.allocUnsafe(readBufferBytes);
    this.socket = undefined;
    this.current = undefined;
    this.busy = false;
  }

  /**
   * GET `path`: resolves with `{ status, headers }` once the whole body went to `onBody(view, status)` (a view of the
   * connection's read buffer, valid only during the call; and the status); rejects on a socket error, timeout or a connection
   * that ends before the response does. A request sent on a kept-alive connection the server had closed is
   * sent again once on a new one (nothing of its response was received).
   */
  async get(path, headers = {}, onBody = () => {}) {
    if (this.busy) throw new HttpError('http-client: one request at a time per connection');
    this.busy = true;
    try {
      try {
        return await this.send(path, headers, onBody);
      } catch (err) {
        if (!(err instanceof StaleConnection)) throw err;
        return await this.send(path, headers, onBody);
      }
    } finally {
      this.busy = false;
    }
  }

  send(path, headers, onBody) {
    return new Promise((resolve, reject) => {
      const reused = this.socket !== undefined;
      const socket = this.socket ?? this.connect();
      this.current = new Response(onBody, reused, resolve, reject);
      const lines = [`GET ${path} HTTP/1.1`, `host: ${this.hostHeader}`];
      for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  }

  connect() {
    const socket = net.connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: { buffer: this.buffer, callback: (n) => this.onRead(socket, n) },
    });
    socket.setTimeout(this.timeoutMs, () => socket.destroy(new HttpError(`http-client: no bytes for ${this.timeoutMs} ms`)));
    socket.on('end', () => this.onEnd(socket));
    socket.on('error', (err) => this.fail(socket, err));
    socket.on('close', (hadError) => {
      if (socket !== this.socket) return; // dropped already: its events are not about the request now
      if (!hadError && this.current?.closeDelimited()) this.finish(socket, this.current);
      else this.fail(socket, new HttpError('http-client: the connection closed before the response ended'));
    });
    socket.resume(); // flowing, so 'end' is emitted (the bytes themselves go to onread)
    this.socket = socket;
    return socket;
  }

  onRead(socket, n) {
    const response = this.current;
    if (!response) {
      socket.destroy(new HttpError('http-client: bytes from the server with no request outstanding'));
      return;
    }
    try {
      response.received = true;
      if (response.take(this.buffer, 0, n)) this.finish(socket, response);
    } catch (err) {
      socket.destroy(err);
    }
  }

  onEnd(socket) {
    if (socket !== this.socket) return;
    const response = this.current;
    if (response?.closeDelimited()) this.finish(socket, response);
    socket.end();
  }

  finish(socket, response) {
    this.current = undefined;
    if (!response.keepAlive) this.drop(socket);
    response.resolve({ status: response.status, headers: response.headers });
  }

  fail(socket, err) {
    if (socket !== this.socket) return; // dropped already: its events are not about the request now
    this.drop(socket);
    const response = this.current;
    if (!response) return;
    this.current = undefined;
    response.reject(response.reused && !response.received ? new StaleConnection(err.message) : err);
  }

  drop(socket) {
    if (this.socket === socket) this.socket = undefined;
    if (!socket.destroyed) socket.destroy();
  }

  close() {
    if (this.socket) this.drop(this.socket);
  }
}

class StaleConnection extends HttpError {}

/** One response being parsed: its head, then its body by Content-Length, chunks, or until the connection ends. */
class Response {
  constructor(onBody, reused, resolve, reject) {
    this.onBody = onBody;
    this.reused = reused;
    this.resolve = resolve;
    this.reject = reject;
    this.received = false;
    this.head = '';
    this.status = 0;
    this.headers = undefined;
    this.keepAlive = true;
    /** 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailer' | 'close' */
    this.state = 'head';
    this.left = 0;
    this.line = '';
  }

  /** Takes bytes `from`..`to` - 1 of `buffer`; true once the response is complete. */
  take(buffer, from, to) {
    let at = from;
    while (at < to) {
      switch (this.state) {
        case 'head': {
          const before = this.head.length;
          this.head += buffer.toString('latin1', at, to);
          const end = this.head.indexOf('\r\n\r\n', Math.max(0, before - 3));
          if (end < 0) {
            if (this.head.length > 64 * 1024) throw new HttpError('http-client: response head over 64 KiB');
            return false;
          }
          at += end + 4 - before;
          this.parseHead(this.head.slice(0, end));
          if (this.state === 'length' && this.left === 0) {
            if (at < to) throw new HttpError('http-client: bytes after the response body');
            return true;
          }
          break;
        }
        case 'length': {
          const n = Math.min(this.left, to - at);
          this.onBody(buffer.subarray(at, at + n), this.status);
          at += n;
          this.left -= n;
          if (this.left === 0) {
            if (at < to) throw new HttpError('http-client: bytes after the response body');
            return true;
          }
          break;
        }
        case 'close':
          this.onBody(buffer.subarray(at, to), this.status);
          return false;
        case 'chunk-data': {
          const n = Math.min(this.left, to - at);
          this.onBody(buffer.subarray(at, at + n), this.status);
          at += n;
          this.left -= n;
          if (this.left === 0) this.state = 'chunk-end';
          break;
        }
        default: {
          // chunk-size, chunk-end, trailer: one line at a time
          const nl = buffer.indexOf(10, at);
          const stop = nl < 0 || nl >= to ? to : nl + 1;
          this.line += buffer.toString('latin1', at, stop);
          at = stop;
          if (!this.line.endsWith('\n')) {
            if (this.line.length > 8 * 1024) throw new HttpError('http-client: chunk line over 8 KiB');
            break;
          }
          const line = this.line.replace(/\r?\n$/, '');
          this.line = '';
          if (this.state === 'chunk-size') {
            const size = Number.parseInt(line.split(';')[0], 16);
            if (!Number.isInteger(size) || size < 0) throw new HttpError(`http-client: bad chunk size line "${line.slice(0, 40)}"`);
            this.left = size;
            this.state = size === 0 ? 'trailer' : 'chunk-data';
          } else if (this.state === 'chunk-end') {
            if (line !== '') throw new HttpError('http-client: chunk data longer than its size');
            this.state = 'chunk-size';
          } else if (line === '') {
            if (at < to) throw new HttpError('http-client: bytes after the response body');
            return true;
          }
        }
      }
    }
    return false;
  }

  parseHead(text) {
    const [statusLine, ...lines] = text.split('\r\n');
    const match = /^HTTP\/1\.([01]) (\d{3})/.exec(statusLine);
    if (!match) throw new HttpError(`http-client: not an HTTP/1.x status line: "${statusLine.slice(0, 60)}"`);
    this.status = Number(match[2]);
    const headers = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new HttpError(`http-client: bad header line "${line.slice(0, 60)}"`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    this.headers = headers;
    const connection = (headers.connection ?? '').toLowerCase();
    this.keepAlive = match[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
    if (this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200)) {
      if (this.status < 200) throw new HttpError(`http-client: interim response ${this.status} not supported`);
      this.state = 'length';
      this.left = 0;
    } else if (/(^|,)\s*chunked\s*$/i.test(headers['transfer-encoding'] ?? '')) {
      this.state = 'chunk-size';
    } else if (headers['content-length'] !== undefined) {
      const length = Number(headers['content-length']);
      if (!Number.isSafeInteger(length) || length < 0) throw new HttpError(`http-client: bad content-length "${headers['content-length']}"`);
      this.state = 'length';
      this.left = length;
    } else {
      this.state = 'close';
      this.keepAlive = false;
    }
  }

  /** The connection ended: complete if the body runs to the end of the connection. */
  closeDelimited() {
    return this.state === 'close';
  }
}

module.exports = { Connection, HttpError };
