import { sharedCall } from './shared-call.js';

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

describe('sharedCall', () => {
  it('gives the callers that come while a call is under way its answer, and forgets it once settled', async () => {
    const running = new Map<string, Promise<number>>();
    const gate = deferred<number>();
    let calls = 0;
    const start = () => (calls++, gate.promise);
    const all = Promise.all([sharedCall(running, 'k', start), sharedCall(running, 'k', start), sharedCall(running, 'other', async () => 7)]);
    expect(calls).toBe(1);
    gate.resolve(42);
    expect(await all).toEqual([42, 42, 7]);
    expect(running.size).toBe(0);
  });

  it('shares a failure once; the next caller makes the call again', async () => {
    const running = new Map<string, Promise<string>>();
    const gate = deferred<string>();
    const first = [sharedCall(running, 'k', () => gate.promise), sharedCall(running, 'k', () => Promise.resolve('not called'))];
    gate.reject(new Error('boom'));
    for (const call of first) await expect(call).rejects.toThrow('boom');
    await expect(sharedCall(running, 'k', async () => 'again')).resolves.toBe('again');
  });

  it('keeps nothing of a call that threw before returning a promise', async () => {
    const running = new Map<string, Promise<string>>();
    expect(() =>
      sharedCall(running, 'k', () => {
        throw new Error('sync');
      }),
    ).toThrow('sync');
    expect(running.size).toBe(0);
    await expect(sharedCall(running, 'k', async () => 'fresh')).resolves.toBe('fresh');
  });

  it('a call that settles after its key was deleted and taken by a newer call leaves the newer one in place', async () => {
    const running = new Map<string, Promise<string>>();
    const old = deferred<string>();
    const oldCall = sharedCall(running, 'k', () => old.promise);
    // A caller that changed what the call reads deletes the key, so the next caller starts afresh.
    running.delete('k');
    const newer = deferred<string>();
    const newCall = sharedCall(running, 'k', () => newer.promise);
    old.resolve('old');
    await expect(oldCall).resolves.toBe('old');
    expect(running.get('k')).toBe(newCall);
    // A caller now joins the newer call, not the old answer.
    const joined = sharedCall(running, 'k', async () => 'not called');
    newer.resolve('new');
    await expect(joined).resolves.toBe('new');
    expect(running.size).toBe(0);
  });
});
