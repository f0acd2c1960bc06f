import { sharedCall } from './shared-call.js';

describe('sharedCall', () => {
  it('gives the callers that come while a call is under way its answer, and forgets it once settled', async () => {
    const running = new Map<string, Promise<number>>();
    let answer!: (value: number) => void;
    const underWay = new Promise<number>((resolve) => (answer = resolve));
    let calls = 0;
    const start = () => (calls++, underWay);
    const all = Promise.all([sharedCall(running, 'k', start), sharedCall(running, 'k', start), sharedCall(running, 'other', async () => 7)]);
    expect(calls).toBe(1);
    answer(42);
    expect(await all).toEqual([42, 42, 7]);
    expect(running.size).toBe(0);
  });

  it('shares a failure once; the next caller makes the call again', async () => {
    const running = new Map<string, Promise<string>>();
    let fail!: (err: Error) => void;
    const failing = new Promise<string>((_, reject) => (fail = reject));
    const first = [sharedCall(running, 'k', () => failing), sharedCall(running, 'k', () => Promise.resolve('not called'))];
    fail(new Error('boom'));
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
    const answers: Array<(value: string) => void> = [];
    const call = () => new Promise<string>((resolve) => answers.push(resolve));
    const oldCall = sharedCall(running, 'k', call);
    // A caller that changed what the call reads deletes the key, so the next caller starts afresh.
    running.delete('k');
    const newCall = sharedCall(running, 'k', call);
    answers[0]!('old');
    await expect(oldCall).resolves.toBe('old');
    expect(running.get('k')).toBe(newCall);
    // A caller now joins the newer call, not the old answer.
    const joined = sharedCall(running, 'k', async () => 'not called');
    answers[1]!('new');
    await expect(joined).resolves.toBe('new');
    expect(running.size).toBe(0);
  });
});
