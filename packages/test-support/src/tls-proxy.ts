import { connect, type AddressInfo, type Socket } from 'node:net';
import { createServer } from 'node:tls';
import { createTlsCertificate } from './tls-certificate.js';
import { tempDir } from './temp-dir.js';

export interface TlsProxy {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** The proxy's self-signed certificate (PEM), the `ca` a client trusts. */
  readonly ca: string;
  stop(): Promise<void>;
}

/**
 * TLS termination on loopback in front of a plain-HTTP server (`targetUrl`), for clients that
 * refuse plain HTTP: each TLS connection is decrypted and its bytes passed on to the target
 * unchanged, so the target sees the client's requests (Host header included) as sent.
 */
export async function startTlsProxy(targetUrl: string): Promise<TlsProxy> {
  const target = new URL(targetUrl);
  const dir = await tempDir('tls-proxy-');
  const certificate = await createTlsCertificate(dir.path).finally(() => dir.remove());
  const sockets = new Set<Socket>();
  const server = createServer({ key: certificate.key, cert: certificate.cert }, (client) => {
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ca: certificate.cert,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
