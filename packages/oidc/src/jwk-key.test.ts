import { generateKeyPairSync, constants, sign, type KeyObject } from 'node:crypto';
import { importJwk, keyFits, verifySignature, SIGNING_ALGORITHMS, type SigningAlgorithm } from './jwk-key.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const curves = { 'P-256': generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'P-384': generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'P-521': generateKeyPairSync('ec', { namedCurve: 'P-521' }) };
const jwkOf = (k: KeyObject, extra: Record<string, unknown> = {}) => ({ ...k.export({ format: 'jwk' }), kid: 'k1', ...extra });

function signWith(alg: SigningAlgorithm, input: string): { signature: Buffer; publicKey: KeyObject } {
  const spec = SIGNING_ALGORITHMS[alg];
  const data = Buffer.from(input);
  if (spec.kty === 'EC') {
    const pair = curves[spec.crv];
    return { signature: sign(spec.hash, data, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' }), publicKey: pair.publicKey };
  }
  if ('pss' in spec) return { signature: sign(spec.hash, data, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }), publicKey: rsa.publicKey };
  return { signature: sign(spec.hash, data, rsa.privateKey), publicKey: rsa.publicKey };
}

test.each(Object.keys(SIGNING_ALGORITHMS) as SigningAlgorithm[])('%s: a good signature verifies, a changed input does not', (alg) => {
  const { signature, publicKey } = signWith(alg, 'header.payload');
  const key = importJwk(jwkOf(publicKey))!;
  expect(keyFits(key, alg)).toBe(true);
  expect(verifySignature(alg, key, 'header.payload', signature)).toBe(true);
  expect(verifySignature(alg, key, 'header.payloaD', signature)).toBe(false);
});

test('a key only fits algorithms of its type, curve and own alg', () => {
  const ec256 = importJwk(jwkOf(curves['P-256'].publicKey))!;
  expect(keyFits(ec256, 'ES384')).toBe(false);
  expect(keyFits(ec256, 'RS256')).toBe(false);
  const rs = importJwk(jwkOf(rsa.publicKey, { alg: 'RS256' }))!;
  expect(keyFits(rs, 'RS256')).toBe(true);
  expect(keyFits(rs, 'PS256')).toBe(false);
});

test.each<[string, unknown]>([
  ['a symmetric key', { kty: 'oct', k: 'c2VjcmV0', kid: 'k1' }],
  ['an encryption key', jwkOf(rsa.publicKey, { use: 'enc' })],
  ['a private key', jwkOf(rsa.privateKey)],
  ['a 1024-bit RSA key', jwkOf(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)],
  ['garbage members', { kty: 'RSA', n: 'AA', e: '!!', kid: 'k1' }],
  ['not an object', 'RSA'],
])('%s is not imported', (_label, jwk) => {
  expect(importJwk(jwk)).toBeUndefined();
});
