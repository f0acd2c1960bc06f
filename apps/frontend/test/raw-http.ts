import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

// HTTP for the input properties: the request target goes out exactly as generated (fetch would normalise it).

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

export function send(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  const url = new URL(base);
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Make any string a request target Node will send: visible ASCII stays as it is (so `..`, `%2F`,
 * `%00`, `//` reach the server raw); everything else, and `?`/`#` inside a path, is percent-encoded
 * as UTF-8. Encoding only adds `%`, so a name invalid before is invalid as sent. (Raw bytes that
 * are not HTTP at all are the raw-socket property's business.)
 */
export function target(s: string, keep = ''): string {
  let out = '';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x21 && code <= 0x7e && (ch !== '?' && ch !== '#' || keep.includes(ch))) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Write `bytes` on a fresh connection and read until the server closes it. */
export function rawExchange(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes)); // no half-close: Node drops a request whose client sent FIN
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolvePromise(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

/** Close the kept-alive sockets (afterAll). */
export function closeRawHttp(): void {
  agent.destroy();
}

export function describeAnswer(a: Answer): string {
  return `${a.status} ${String(a.headers['content-type'])} ${a.body.toString('utf8').slice(0, 300)}`;
}
