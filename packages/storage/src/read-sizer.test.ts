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

  test("a stream's later reads follow the streams open now: smaller once more open, bigger again once they close", () => {
    const sizer = new ReadSizer({ budget: 8 * MiB, min: 64 * KiB, max: 4 * MiB });
    const first = sizer.acquire();
    expect(first.size).toBe(4 * MiB);
    expect(first.current()).toBe(4 * MiB);
    const herd = Array.from({ length: 19 }, () => sizer.acquire());
    // 20 open: 256 KiB each fits 8 MiB (512 KiB would not).
    expect(first.size).toBe(4 * MiB);
    expect(first.current()).toBe(256 * KiB);
    expect(herd[0]!.current()).toBe(256 * KiB);
    for (const s of herd) s.release();
    expect(first.current()).toBe(4 * MiB);
  });

  test('min above max is refused', () => {
    expect(() => new ReadSizer({ budget: MiB, min: 2 * MiB, max: MiB })).toThrow(RangeError);
  });
});
