/**
 * A host the way a URL sees it (WHATWG host parsing, what undici and fetch dial): lowercase,
 * punycode, brackets kept on IPv6, and every IPv4 number form made dotted-quad (`127.1`,
 * `0x7f.0.0.1`, `0177.0.0.1`, `2130706433` are all `127.0.0.1`). Undefined when a URL would
 * refuse the host (e.g. `0x7g.0.0.1`, `256.1.1.1`) or it carries a port, path or credentials.
 */
export function normalizeHost(host: string): string | undefined {
  if (host === '' || /[/?#@\\\s]/.test(host)) return undefined;
  if (!host.startsWith('[') && host.includes(':')) return undefined;
  let url: URL;
  try {
    url = new URL(`http://${host}/`);
  } catch {
    return undefined;
  }
  if (url.port !== '' || url.username !== '' || url.password !== '') return undefined;
  return url.hostname.replace(/\.$/, '');
}

/** Split `host[:port]` (`[v6]:port` for IPv6) and normalize the host; undefined when malformed. */
export function splitHostPort(hostPort: string): { host: string; port?: number } | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d{1,5}))?$/.exec(hostPort);
  if (!m) return undefined;
  const host = normalizeHost(m[1]!);
  if (host === undefined) return undefined;
  if (m[2] === undefined) return { host };
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host, port } : undefined;
}

/** The bare address of a bracketed IPv6 host (`[::1]` -> `::1`); other hosts unchanged. */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
