import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './run-command.js';

export interface TlsCertificate {
  /** PEM private key. */
  key: string;
  /** PEM self-signed certificate for 127.0.0.1 and localhost: the `ca` a client trusts. */
  cert: string;
  certPath: string;
}

/** A self-signed server certificate for loopback (SAN IP:127.0.0.1, DNS:localhost), made with openssl in `dir`. */
export async function createTlsCertificate(dir: string): Promise<TlsCertificate> {
  const keyPath = join(dir, 'tls-key.pem');
  const certPath = join(dir, 'tls-cert.pem');
  await runCommand('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout', keyPath, '-out', certPath,
  ]);
  return { key: await readFile(keyPath, 'utf8'), cert: await readFile(certPath, 'utf8'), certPath };
}
