import { createServer } from 'node:http';
import { request } from 'node:https';
import { closeServer, listenOnLoopback } from './http-listen.js';
import { startTlsProxy } from './tls-proxy.js';

function httpsGet(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('passes HTTPS requests to a plain-HTTP server unchanged (Host and path included); a client that does not trust its certificate is refused', async () => {
  const seen: Array<{ path?: string; host?: string }> = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url, host: req.headers.host });
    res.end(`hello ${req.url}`);
  });
  const port = await listenOnLoopback(server);
  const proxy = await startTlsProxy(`http://127.0.0.1:${port}`);
  try {
    expect(proxy.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await httpsGet(`${proxy.url}/v2/a%2Fb/manifests/v1`, proxy.ca)).toEqual({ status: 200, body: 'hello /v2/a%2Fb/manifests/v1' });
    expect(seen).toEqual([{ path: '/v2/a%2Fb/manifests/v1', host: new URL(proxy.url).host }]);
    await expect(httpsGet(`${proxy.url}/`)).rejects.toThrow(/self-signed|self signed/i);
  } finally {
    await proxy.stop();
    await closeServer(server);
  }
});
