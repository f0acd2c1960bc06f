import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './run-command.js';

export interface SigningKey {
  /** PEM private key (RSA 2048). */
  privateKeyPem: string;
  /** Path of the self-signed certificate: the registry's `auth.token.rootcertbundle`. */
  certPath: string;
  /** The certificate as base64 DER, for a JWT header's `x5c`. */
  certBase64Der: string;
}

/** Make an RSA key and its self-signed certificate with openssl in `dir`. */
export async function createSigningKey(dir: string): Promise<SigningKey> {
  const keyPath = join(dir, 'token-key.pem');
  const certPath = join(dir, 'token-cert.pem');
  await runCommand('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', '/CN=pullthrough-test-token-issuer', '-keyout', keyPath, '-out', certPath,
  ]);
  const certPem = await readFile(certPath, 'utf8');
  const certBase64Der = certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return { privateKeyPem: await readFile(keyPath, 'utf8'), certPath, certBase64Der };
}
