import { TOKEN } from './http1-response-parser.js';

/** Headers the client writes itself: a caller may not set them. */
const OWN_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'te', 'upgrade', 'keep-alive']);

/**
 * The request line and headers. Names are sent lower-cased, once each; a name that is not a token, one
 * given twice in any case, or a value with CR, LF or NUL is refused.
 */
export function requestHead(method: string, url: URL, headers: Record<string, string>): string {
  let head = `${method} ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  const seen = new Set<string>();
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name.slice(0, 40))}`);
    const key = name.toLowerCase();
    if (OWN_HEADERS.has(key)) throw new TypeError(`header ${key} is set by the client`);
    if (seen.has(key)) throw new TypeError(`header ${key} given twice`);
    seen.add(key);
    if (/[\0\r\n]/.test(value)) throw new TypeError(`header ${key} has a control character`);
    head += `${key}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}
