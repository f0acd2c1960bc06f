import { answerWithin, LATE } from './answer-within.js';

describe('answerWithin', () => {
  it('gives the answer that comes in time, and rejects with a rejection that does', async () => {
    await expect(answerWithin(Promise.resolve(7), 1000)).resolves.toBe(7);
    await expect(answerWithin(Promise.reject(new Error('refused')), 1000)).rejects.toThrow('refused');
  });

  it('gives LATE when the answer does not come in time, and a rejection after that is handled', async () => {
    let reject!: (err: Error) => void;
    const slow = new Promise<number>((_, r) => (reject = r));
    await expect(answerWithin(slow, 20)).resolves.toBe(LATE);
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);
    reject(new Error('connection closed'));
    await new Promise((r) => setTimeout(r, 20));
    process.off('unhandledRejection', unhandled);
    expect(unhandled).not.toHaveBeenCalled();
  });
});
