import fc from 'fast-check';

// Generators for the input properties: valid names and references, and ones on (or past) the grammar's edges.

const lower = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split(''));
const component = fc
  .tuple(fc.string({ unit: lower, minLength: 1, maxLength: 8 }), fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), fc.string({ unit: lower, minLength: 1, maxLength: 6 })), { maxLength: 2 }))
  .map(([head, rest]) => head + rest.map(([s, c]) => s + c).join(''));
export const validName = fc.array(component, { minLength: 1, maxLength: 4 }).map((c) => c.join('/'));
/** Pieces that sit on the grammar's edges. */
export const edgePiece = fc.constantFrom(
  'up', 'fixtures', 'small', 'sc', 'A', 'Up', 'SMALL', '..', '.', './', '../', '%2F', '%2f', '%00', '%2e%2e', '%2E', '%25', '%', '_', '__', '___',
  '-', '--', '/', '//', 'a', 'z9', 'é', 'İ', '\u0000', '\u202e', '\ud83d\ude00', '\ud800', ' ', '\t', '\\', ':', '@', '?', '#', ';', '~', '*', 'manifests', 'blobs', 'tags',
  'referrers', '_catalog', 'uploads',
);
export const edgeString = fc.array(edgePiece, { minLength: 1, maxLength: 10 }).map((p) => p.join(''));
const longName = fc.tuple(fc.integer({ min: 240, max: 300 }), fc.constantFrom('up/', '', 'up/a/')).map(([n, prefix]) => (prefix + 'a'.repeat(n)).slice(0, n));
export const nameArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  validName,
  { arbitrary: validName.map((n) => `up/${n}`), weight: 2 },
  { arbitrary: fc.constantFrom('up/small', 'up/multiplatform', 'up/docker'), weight: 3 },
  // Names the upstream has, with some letters uppercase: one lowercasing step away from a pull.
  fc.mixedCase(fc.constantFrom('up/small', 'up/multiplatform', 'up/docker')),
  fc.mixedCase(validName).map((n) => `up/${n}`),
  edgeString,
  fc.tuple(fc.constantFrom('up/', 'up', '/up/', 'UP/', 'up//', 'sc/'), edgeString).map(([a, b]) => a + b),
  fc.tuple(validName, edgeString, fc.boolean()).map(([n, e, before]) => (before ? e + n : n + e)),
  longName,
);
export const hex = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: n, maxLength: n });
const wrongLength = fc.integer({ min: 0, max: 140 }).filter((n) => n !== 64 && n !== 128);
export const digestArb = fc.oneof(
  { arbitrary: hex(64).map((h) => `sha256:${h}`), weight: 3 },
  wrongLength.chain((n) => hex(n)).map((h) => `sha256:${h}`),
  hex(64).map((h) => `sha256:${h.toUpperCase()}`),
  hex(63).map((h) => `sha256:${h}g`),
  hex(128).map((h) => `sha512:${h}`),
  wrongLength.chain((n) => hex(n)).map((h) => `sha512:${h}`),
  fc.tuple(fc.constantFrom('md5', 'sha1', 'sha384', 'blake3', 'SHA256', 'sha256+b64', 'sha-256', ''), hex(64)).map(([a, h]) => `${a}:${h}`),
  hex(64).map((h) => `sha256%3A${h}`),
  hex(64).map((h) => `sha256%3a${h}%2F`),
  fc.tuple(hex(64), edgePiece).map(([h, e]) => `sha256:${h}${e}`),
  fc.string({ unit: 'binary', maxLength: 80 }),
);
export const referenceArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  { arbitrary: fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/), weight: 2 },
  { arbitrary: fc.constantFrom('v1', 'latest', 'V1'), weight: 2 },
  fc.integer({ min: 125, max: 135 }).map((n) => 'a'.repeat(n)),
  edgeString,
  digestArb,
);
