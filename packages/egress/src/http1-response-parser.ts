/** A response's status line and headers (names lower-cased; a repeated header is an array). */
export interface ResponseHead {
  statusCode: number;
  headers: Record<string, string | string[]>;
  /** HTTP/1.1 without `connection: close`: the connection may carry the next request. */
  keepAlive: boolean;
}

/** Where a parsed response goes: its head once, then body views (false: pause), then its end. */
export interface ResponseSink {
  head(head: ResponseHead): void;
  /** A view of body bytes inside the buffer being fed; false asks the feeder to stop reading. */
  data(view: Buffer): boolean;
  /** The body ended where its framing says; `reusable`: nothing is left that belongs to no response. */
  end(reusable: boolean): void;
}

/** A response that breaks HTTP/1.1 (or our limits). */
export class InvalidResponseError extends Error {
  readonly code = 'ERR_UPSTREAM_INVALID_RESPONSE';
  constructor(reason: string) {
    super(`invalid HTTP response: ${reason}`);
    this.name = 'InvalidResponseError';
  }
}

/** A header name (RFC 9110 5.1). */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/;
const MAX_CHUNK_LINE = 4096;
/** Interim (1xx) responses skipped before the real one; more is a server that never answers. */
const MAX_INTERIM = 10;
/** A header value's characters: visible ASCII, SP, HTAB and obs-text (RFC 9110 5.5), no other control. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** What an error message quotes of a header value. */
const quoted = (value: unknown) => JSON.stringify(String(value).slice(0, 40));

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'close' | 'done';

/**
 * Reads one HTTP/1.1 response from bytes fed in order (`feed`), without copying the body: body bytes
 * go to the sink as views into the fed buffer. The head is bounded (`maxHeadBytes`); the body is
 * framed by Content-Length, chunked Transfer-Encoding, or the connection's end (`closed`). A response
 * with both framings, another transfer coding, an unparsable length, or a header line that is not
 * `token: value` is an InvalidResponseError. Interim (1xx) responses are skipped.
 */
export class Http1ResponseParser {
  private state: State = 'head';
  private headText = '';
  private remaining = 0;
  private lineText = '';
  private crlfSeen = 0;
  private keepAlive = false;
  private interim = 0;
  private trailerBytes = 0;

  constructor(
    private readonly sink: ResponseSink,
    private readonly options: { method: 'GET' | 'HEAD'; maxHeadBytes: number },
  ) {}

  /** Whether the response has ended. */
  get done(): boolean {
    return this.state === 'done';
  }

  /** Whether the head has been read. */
  get headRead(): boolean {
    return this.state !== 'head';
  }

  /**
   * Take `buf[start, end)`. Returns the offset where it stopped: `end`, or earlier when the sink
   * asked to pause (the caller feeds the rest later) or the response ended (what follows is not ours).
   */
  feed(buf: Buffer, start: number, end: number): { at: number; paused: boolean } {
    let at = start;
    while (at < end && this.state !== 'done') {
      switch (this.state) {
        case 'head':
          at = this.readHead(buf, at, end);
          break;
        case 'length': {
          const sent = this.sendBody(buf, at, end);
          at = sent.at;
          if (this.remaining === 0) this.finish(true);
          if (!sent.goOn) return { at, paused: true };
          break;
        }
        case 'close': {
          const goOn = this.sink.data(buf.subarray(at, end));
          at = end;
          if (!goOn) return { at, paused: true };
          break;
        }
        case 'chunk-size':
        case 'trailers':
          at = this.readLine(buf, at, end);
          break;
        case 'chunk-data': {
          const sent = this.sendBody(buf, at, end);
          at = sent.at;
          if (this.remaining === 0) {
            this.state = 'chunk-crlf';
            this.crlfSeen = 0;
          }
          if (!sent.goOn) return { at, paused: true };
          break;
        }
        case 'chunk-crlf':
          if (buf[at] !== (this.crlfSeen === 0 ? 0x0d : 0x0a)) throw new InvalidResponseError('chunk data not followed by CRLF');
          at++;
          if (++this.crlfSeen === 2) this.state = 'chunk-size';
          break;
      }
    }
    return { at, paused: false };
  }

  /** Up to `remaining` bytes of `buf[at, end)` to the sink, as one view. */
  private sendBody(buf: Buffer, at: number, end: number): { at: number; goOn: boolean } {
    const take = Math.min(this.remaining, end - at);
    this.remaining -= take;
    return { at: at + take, goOn: this.sink.data(buf.subarray(at, at + take)) };
  }

  /** The connection ended: the end of a body framed by it, else a truncated response. */
  closed(): void {
    if (this.state === 'close') return this.finish(false);
    if (this.state === 'done') return;
    const err = new Error(this.state === 'head' ? 'connection closed before the response head' : 'connection closed inside the response body') as Error & { code: string };
    err.code = this.state === 'length' ? 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' : 'UND_ERR_SOCKET';
    throw err;
  }

  private readHead(buf: Buffer, start: number, end: number): number {
    const before = this.headText.length;
    // Headers are latin1 on the wire (RFC 9110 5.5); the head ends at the first empty line.
    this.headText += buf.toString('latin1', start, Math.min(end, start + this.options.maxHeadBytes + 4 - before));
    const stop = this.headText.indexOf('\r\n\r\n');
    if (stop < 0) {
      if (this.headText.length > this.options.maxHeadBytes) throw new InvalidResponseError(`head larger than ${this.options.maxHeadBytes} bytes`);
      return end;
    }
    const used = stop + 4 - before;
    const text = this.headText.slice(0, stop);
    this.headText = '';
    this.startBody(text);
    return start + used;
  }

  private startBody(text: string): void {
    const lines = text.split('\r\n');
    const status = STATUS_LINE.exec(lines[0]!);
    if (!status) throw new InvalidResponseError('bad status line');
    const statusCode = Number(status[2]);
    if (statusCode < 100 || statusCode === 101) throw new InvalidResponseError(`status ${statusCode}`);
    // No prototype: a header named __proto__ or constructor is just a header.
    const headers = Object.create(null) as Record<string, string | string[]>;
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!TOKEN.test(name)) throw new InvalidResponseError('a header line is not "name: value"');
      // Only SP and HTAB are whitespace around a value (RFC 9110 5.5).
      const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      if (!FIELD_VALUE.test(value)) throw new InvalidResponseError(`header ${name.slice(0, 40)} has a control character`);
      const key = name.toLowerCase();
      const prior = headers[key];
      if (prior === undefined) headers[key] = value;
      else if (Array.isArray(prior)) prior.push(value);
      else headers[key] = [prior, value];
    }
    if (statusCode < 200) {
      // An interim response: the real one follows.
      if (++this.interim > MAX_INTERIM) throw new InvalidResponseError(`more than ${MAX_INTERIM} interim responses`);
      return;
    }
    const connection = String(headers.connection ?? '').toLowerCase();
    this.keepAlive = status[1] === '1' && !/(^|,)\s*close\s*(,|$)/.test(connection);
    // The framing is checked before anyone sees the head: a response that cannot be framed is refused whole.
    const framing = this.framingOf(statusCode, headers);
    if (framing.state === 'close') this.keepAlive = false;
    this.sink.head({ statusCode, headers, keepAlive: this.keepAlive });
    if (framing.state === 'done') return this.finish(true);
    this.state = framing.state;
    this.remaining = framing.remaining;
  }

  private framingOf(statusCode: number, headers: Record<string, string | string[]>): { state: State; remaining: number } {
    if (this.options.method === 'HEAD' || statusCode === 204 || statusCode === 304) return { state: 'done', remaining: 0 };
    const coding = headers['transfer-encoding'];
    const length = headers['content-length'];
    if (coding !== undefined) {
      if (length !== undefined) throw new InvalidResponseError('both Content-Length and Transfer-Encoding');
      if (String(coding).toLowerCase() !== 'chunked') throw new InvalidResponseError(`transfer coding ${quoted(coding)}`);
      return { state: 'chunk-size', remaining: 0 };
    }
    if (length !== undefined) {
      const values = (Array.isArray(length) ? length : [length]).flatMap((v) => v.split(',').map((x) => x.trim()));
      if (!values.every((v) => /^\d{1,15}$/.test(v) && v === values[0])) throw new InvalidResponseError('bad Content-Length');
      const remaining = Number(values[0]);
      return remaining === 0 ? { state: 'done', remaining: 0 } : { state: 'length', remaining };
    }
    return { state: 'close', remaining: 0 };
  }

  /** A chunk-size line or a trailer line, possibly split across feeds. */
  private readLine(buf: Buffer, start: number, end: number): number {
    const nl = buf.indexOf(0x0a, start);
    const stop = nl < 0 || nl >= end ? end : nl + 1;
    this.lineText += buf.toString('latin1', start, stop);
    if (this.lineText.length > MAX_CHUNK_LINE) throw new InvalidResponseError('chunk line too long');
    if (!this.lineText.endsWith('\n')) return stop;
    if (!this.lineText.endsWith('\r\n')) throw new InvalidResponseError('chunk line not ended by CRLF');
    const line = this.lineText.slice(0, -2);
    this.lineText = '';
    if (this.state === 'trailers') {
      // Trailers are read and dropped, within the head's bound.
      this.trailerBytes += line.length + 2;
      if (this.trailerBytes > this.options.maxHeadBytes) throw new InvalidResponseError(`trailers larger than ${this.options.maxHeadBytes} bytes`);
      if (line === '') this.finish(true);
      return stop;
    }
    const size = /^([0-9a-fA-F]{1,12})[ \t]*(;.*)?$/.exec(line);
    if (!size) throw new InvalidResponseError('bad chunk size');
    this.remaining = parseInt(size[1]!, 16);
    this.state = this.remaining === 0 ? 'trailers' : 'chunk-data';
    return stop;
  }

  private finish(framed: boolean): void {
    this.state = 'done';
    this.sink.end(framed && this.keepAlive);
  }
}
