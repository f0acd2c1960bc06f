import { SingleFlight } from './single-flight.js';

/** A promise whose settlement the test controls. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('SingleFlight', () => {
  it('shares one execution between concurrent calls with the same key', async () => {
    const flights = new SingleFlight<number>();
    const gate = deferred<number>();
    let calls = 0;
    const fn = () => {
      calls++;
      return gate.promise;
    };
    const all = Promise.all([flights.run('a', fn), flights.run('a', fn), flights.run('a', fn)]);
    expect(calls).toBe(1);
    expect(flights.has('a')).toBe(true);
    gate.resolve(42);
    expect(await all).toEqual([42, 42, 42]);
    expect(flights.has('a')).toBe(false);
    expect(flights.size).toBe(0);
  });

  it('runs different keys independently', async () => {
    const flights = new SingleFlight<string>();
    const results = await Promise.all([flights.run('a', async () => 'A'), flights.run('b', async () => 'B')]);
    expect(results).toEqual(['A', 'B']);
  });

  it('shares a rejection and frees the key so the next call runs again', async () => {
    const flights = new SingleFlight<string>();
    const gate = deferred<string>();
    let calls = 0;
    const failing = () => {
      calls++;
      return gate.promise;
    };
    const first = flights.run('k', failing);
    const second = flights.run('k', failing);
    gate.reject(new Error('upstream down'));
    await expect(first).rejects.toThrow('upstream down');
    await expect(second).rejects.toThrow('upstream down');
    expect(calls).toBe(1);
    expect(flights.has('k')).toBe(false);

    await expect(flights.run('k', async () => 'recovered')).resolves.toBe('recovered');
    expect(flights.size).toBe(0);
  });

  it('runs again after a successful flight has settled (no result caching)', async () => {
    const flights = new SingleFlight<number>();
    let calls = 0;
    await flights.run('k', async () => ++calls);
    await expect(flights.run('k', async () => ++calls)).resolves.toBe(2);
  });
});
