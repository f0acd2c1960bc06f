import { createCipheriv, createHash } from 'node:crypto';

/** `size` incompressible bytes, the same for the same seed (AES-128-CTR keystream). */
export function pseudoRandomBytes(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}
