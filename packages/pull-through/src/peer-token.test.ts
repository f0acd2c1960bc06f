import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FilesystemDriver, RegistryStore } from '@pullthrough/storage';
import { PeerSecret } from './peer-secret.js';
import { PEER_TOKEN_TTL_MS, PeerTokens } from './peer-token.js';

// The peer stream key in a real filesystem control area, and the tokens signed with it.
let dir: string;
let store: RegistryStore;
const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peer-token-'));
  store = new RegistryStore(new FilesystemDriver(dir));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

test('made once, kept owner-only in the control area, read back by every process', async () => {
  const first = await PeerSecret.load(store.control);
  const second = await PeerSecret.load(new RegistryStore(new FilesystemDriver(dir)).control);
  expect(first.current.length).toBe(32);
  expect(second.current.equals(first.current)).toBe(true);
  const file = join(dir, 'control', 'peer-stream', 'secret.json');
  expect((await stat(file)).mode & 0o777).toBe(0o600);
});

test('a token opens its flight until it expires; another flight, another key, a tampered or far-future token do not', async () => {
  let now = 1_000_000;
  const tokens = new PeerTokens(await PeerSecret.load(store.control), () => now);
  const token = tokens.sign(A);
  expect(token).toMatch(/^PullthroughPeer v1\.\d+\.[A-Za-z0-9_-]{43}$/);
  expect(await tokens.verify(A, token)).toBeUndefined();
  expect((await tokens.verify(B, token))?.code).toBe('PEER_DENIED');
  expect((await tokens.verify(A, undefined))?.status).toBe(401);
  // One signature character changed (a middle one: all its bits count).
  const at = token.length - 20;
  expect((await tokens.verify(A, token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1)))?.status).toBe(403);
  // The expiry is inside the MAC: moving it forward breaks the signature.
  expect((await tokens.verify(A, token.replace(`.${now + PEER_TOKEN_TTL_MS}.`, `.${now + PEER_TOKEN_TTL_MS + 1000}.`)))?.code).toBe('PEER_DENIED');
  const farFuture = new PeerTokens(await PeerSecret.load(store.control), () => now + 10 * PEER_TOKEN_TTL_MS).sign(A);
  expect((await tokens.verify(A, farFuture))?.code).toBe('PEER_UNAUTHORIZED');
  now += PEER_TOKEN_TTL_MS;
  expect((await tokens.verify(A, token))?.code).toBe('PEER_TOKEN_EXPIRED');
});

test('processes that start at once on an empty store make one key between them: their first requests verify', async () => {
  // Each load through its own store object, as separate processes would.
  const secrets = await Promise.all(Array.from({ length: 8 }, () => PeerSecret.load(new RegistryStore(new FilesystemDriver(dir)).control)));
  for (const s of secrets) expect(s.current.equals(secrets[0]!.current)).toBe(true);
  const [leader, ...followers] = secrets.map((s) => new PeerTokens(s));
  for (const follower of followers) expect(await leader!.verify(A, follower.sign(A))).toBeUndefined();
});

test('a damaged stored key is replaced', async () => {
  await store.control.putControl('peer-stream', 'secret', { secret: 'not hex' }, { private: true });
  const secret = await PeerSecret.load(store.control);
  expect((await store.control.getControl<{ secret: string }>('peer-stream', 'secret'))?.secret).toBe(secret.current.toString('hex'));
});

test('a key replaced in storage after processes read it: they agree after one refused request', async () => {
  const leader = new PeerTokens(await PeerSecret.load(store.control));
  // The key is replaced (another process's write, an operator's rotation).
  await store.control.putControl('peer-stream', 'secret', { secret: 'cd'.repeat(32) }, { private: true });
  const stale = await PeerSecret.load({ getControl: async <T>() => ({ secret: 'ef'.repeat(32) }) as T, putControl: async () => undefined, createControl: async () => false });
  // The leader reads the stored key again on a mismatch: a follower with the stored key is let in.
  const follower = new PeerTokens(await PeerSecret.load(store.control));
  expect(await leader.verify(A, follower.sign(A))).toBeUndefined();
  // A key nobody stored stays refused.
  expect((await leader.verify(A, new PeerTokens(stale).sign(A)))?.code).toBe('PEER_DENIED');
});
