import { LruCache } from './lru-cache.js';

const entry = (n: number) => ({ bytes: Buffer.alloc(n) });
const byBytes = (v: { bytes: Buffer }) => v.bytes.length;

describe('LruCache', () => {
  test('keeps entries up to its weight bound, evicting the least recently used', () => {
    const cache = new LruCache(100, byBytes);
    cache.set('a', entry(20));
    cache.set('b', entry(20));
    cache.set('c', entry(20));
    expect(cache.get('a')).toBeDefined(); // a is now the most recent
    cache.set('d', entry(20));
    cache.set('e', entry(20));
    expect(cache.totalWeight).toBe(100);
    cache.set('f', entry(20)); // over the bound: b (least recent) goes
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.get('c')).toBeDefined();
    expect(cache.totalWeight).toBe(100);
  });

  test('an entry read in the newer half of the order keeps its place; read in the older half, it becomes the most recent', () => {
    const cache = new LruCache<number>(4);
    for (const k of ['a', 'b', 'c', 'd']) cache.set(k, 1);
    expect(cache.get('d')).toBe(1); // newest: not moved
    expect(cache.get('a')).toBe(1); // oldest: moved to the newest place
    cache.set('e', 1); // over the bound: b is the oldest now
    expect([...['a', 'b', 'c', 'd', 'e'].filter((k) => cache.get(k) !== undefined)]).toEqual(['a', 'c', 'd', 'e']);
    // Reads alone never evict, and a hot entry read again and again stays.
    for (let i = 0; i < 1000; i++) cache.get('c');
    for (const k of ['f', 'g']) cache.set(k, 1);
    expect(cache.get('c')).toBe(1);
    expect(cache.size).toBe(4);
  });

  test('replacing a key does not count it twice; entries over a quarter of the bound are not kept', () => {
    const cache = new LruCache(100, byBytes);
    cache.set('a', entry(10));
    cache.set('a', entry(15));
    expect(cache.totalWeight).toBe(15);
    expect(cache.size).toBe(1);
    cache.set('big', entry(26));
    expect(cache.get('big')).toBeUndefined();
    expect(cache.totalWeight).toBe(15);
  });

  test('an entry expires after its ttl; delete forgets it; a zero bound keeps nothing', () => {
    let now = 1_000;
    const cache = new LruCache<string>(10, undefined, () => now);
    cache.set('t', 'sha256:a', 500);
    now += 499;
    expect(cache.get('t')).toBe('sha256:a');
    now += 1;
    expect(cache.get('t')).toBeUndefined();
    expect(cache.size).toBe(0);
    cache.set('u', 'x');
    cache.delete('u');
    expect(cache.get('u')).toBeUndefined();
    expect(cache.totalWeight).toBe(0);
    const off = new LruCache<string>(0);
    off.set('v', 'y');
    expect(off.get('v')).toBeUndefined();
  });

  test('clear() forgets every entry and its weight', () => {
    const cache = new LruCache<string>(10);
    cache.set('a', 'x');
    cache.set('b', 'y');
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.totalWeight).toBe(0);
    expect(cache.get('a')).toBeUndefined();
  });
});
