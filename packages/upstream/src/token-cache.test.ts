import { TokenCache } from './token-cache.js';

describe('TokenCache', () => {
  it('keeps a token until expires_in minus a margin', () => {
    const cache = new TokenCache<string>();
    cache.set('s', 'tok', 300, 0);
    expect(cache.get('s', 289_999)).toBe('tok');
    expect(cache.get('s', 290_000)).toBeUndefined();
    cache.set('short', 'tok', 10, 0);
    expect(cache.get('short', 8_999)).toBe('tok');
    expect(cache.get('short', 9_000)).toBeUndefined();
  });

  it('forgets only the token that was refused', () => {
    const cache = new TokenCache<string>();
    cache.set('s', 'new', 60);
    cache.forget('s', 'old');
    expect(cache.get('s')).toBe('new');
    cache.forget('s', 'new');
    expect(cache.get('s')).toBeUndefined();
  });

  it('keeps at most maxEntries tokens, dropping the least recently used', () => {
    const cache = new TokenCache<string>(4);
    for (const s of ['a', 'b', 'c', 'd']) cache.set(s, `tok-${s}`, 300, 0);
    expect(cache.get('a', 1)).toBe('tok-a'); // a is now the most recently used
    cache.set('e', 'tok-e', 300, 0);
    expect(cache.size).toBe(4);
    expect(cache.get('b', 1)).toBeUndefined();
    expect(['a', 'c', 'd', 'e'].map((s) => cache.get(s, 1))).toEqual(['tok-a', 'tok-c', 'tok-d', 'tok-e']);
    for (let i = 0; i < 100; i++) cache.set(`scope-${i}`, 't', 300, 0);
    expect(cache.size).toBe(4);
  });

  it('shares one in-flight fetch per scope', async () => {
    const cache = new TokenCache<string>();
    let calls = 0;
    const fetch = async (): Promise<string> => {
      calls++;
      await new Promise((r) => setTimeout(r, 10));
      return 'v';
    };
    const results = await Promise.all([cache.shared('a', fetch), cache.shared('a', fetch), cache.shared('b', fetch)]);
    expect(results).toEqual(['v', 'v', 'v']);
    expect(calls).toBe(2);
    await cache.shared('a', fetch);
    expect(calls).toBe(3);
  });
});
