import { ReadSizer } from './read-sizer.js';

const KiB = 1024;
const MiB = 1024 * KiB;

describe('ReadSizer', () => {
  test('few streams read big, many read small, never under min; closing frees room', () => {
    const sizer = new ReadSizer({ budget: 4 * MiB, min: 64 * KiB, max: MiB });
    const first = sizer.acquire();
    expect(first.size).toBe(MiB);
    const more = Array.from({ length: 7 }, () => sizer.acquire());
    // 8 open: 8 x 512 KiB fits 4 MiB.
    expect(more.at(-1)!.size).toBe(512 * KiB);
    const crowd = Array.from({ length: 100 }, () => sizer.acquire());
    expect(crowd.at(-1)!.size).toBe(64 * KiB);
    expect(sizer.openStreams).toBe(108);
    for (const s of [first, ...more, ...crowd]) s.release();
    first.release(); // twice is harmless
    expect(sizer.openStreams).toBe(0);
    expect(sizer.acquire().size).toBe(MiB);
  });

  test('min above max is refused', () => {
    expect(() => new ReadSizer({ budget: MiB, min: 2 * MiB, max: MiB })).toThrow(RangeError);
  });
});
