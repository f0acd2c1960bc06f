import type { Descriptor, Digest } from '@pullthrough/oci';
import { ReadAheadHold, ReadAheadPlan } from './read-ahead.js';

const layers: Descriptor[] = Array.from({ length: 8 }, (_, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${String(i).repeat(64)}` as Digest, size: 100 + i }));
const keyOf = (layer: Descriptor) => `key:${layer.digest}`;
const indexes = (picked: Descriptor[]) => picked.map((l) => layers.indexOf(l));

describe('ReadAheadPlan', () => {
  it('reads nothing ahead with the manifest; then up to `window` layers beyond the furthest one asked for, each once', () => {
    const plan = new ReadAheadPlan(3);
    plan.expect(layers, keyOf);
    expect(indexes(plan.after(keyOf(layers[0]!)))).toEqual([1, 2, 3]);
    expect(indexes(plan.after(keyOf(layers[1]!)))).toEqual([4]);
    // Asked again, or an earlier layer: nothing new.
    expect(indexes(plan.after(keyOf(layers[1]!)))).toEqual([]);
    expect(indexes(plan.after(keyOf(layers[0]!)))).toEqual([]);
    expect(indexes(plan.after(keyOf(layers[4]!)))).toEqual([5, 6, 7]);
    // The last layer: nothing beyond it.
    expect(indexes(plan.after(keyOf(layers[7]!)))).toEqual([]);
  });

  it('a client that skips layers (it has them) gets nothing read ahead of the ones it skipped, only after the one it asks for', () => {
    const plan = new ReadAheadPlan(2);
    plan.expect(layers, keyOf);
    expect(indexes(plan.after(keyOf(layers[5]!)))).toEqual([6, 7]);
    expect(indexes(plan.after(keyOf(layers[3]!)))).toEqual([]);
  });

  it('a blob that is no layer of an expected manifest reads nothing ahead', () => {
    const plan = new ReadAheadPlan(3);
    plan.expect(layers, keyOf);
    expect(plan.after('key:sha256:unknown')).toEqual([]);
  });
});

describe('ReadAheadHold', () => {
  it('waits until released; a wait after the release returns at once', async () => {
    const hold = new ReadAheadHold(60_000);
    let woke = false;
    const waited = hold.wait().then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(woke).toBe(false);
    hold.release();
    await waited;
    expect(hold.released).toBe(true);
    await hold.wait();
  });

  it('holds nothing with holdMs 0', async () => {
    const hold = new ReadAheadHold(0);
    expect(hold.released).toBe(true);
    await hold.wait();
    expect(hold.expired).toBe(false);
  });

  it('lets go by itself after holdMs from the first wait', async () => {
    const hold = new ReadAheadHold(50);
    const started = Date.now();
    await hold.wait();
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
    expect(hold.released).toBe(true);
  });

  it('tells whenTapped once a client releases it, at once after that or without a hold, never when it ran out', async () => {
    const calls: string[] = [];
    const tapped = new ReadAheadHold(60_000);
    tapped.whenTapped(() => calls.push('before'));
    expect(calls).toEqual([]);
    tapped.release();
    tapped.release();
    tapped.whenTapped(() => calls.push('after'));
    new ReadAheadHold(0).whenTapped(() => calls.push('no hold'));
    expect(calls).toEqual(['before', 'after', 'no hold']);

    const ran = new ReadAheadHold(20);
    ran.whenTapped(() => calls.push('ran out'));
    await ran.wait();
    ran.whenTapped(() => calls.push('ran out, later'));
    expect(ran.expired).toBe(true);
    expect(calls).toEqual(['before', 'after', 'no hold']);
  });

  it('after the first tap, keeps the read at the prefix for the gathering (clients that come with it start at byte 0); release() ends it at once', async () => {
    const settledAfter = async (promise: Promise<void> | undefined, ms: number) => {
      let settled = false;
      void promise?.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, ms));
      return settled;
    };
    // Read stopped at the prefix before any tap: it waits for one, then for the gathering after it.
    const hold = new ReadAheadHold(60_000, 150);
    const atEnd = hold.atPrefixEnd();
    expect(await settledAfter(atEnd, 20)).toBe(false);
    expect(hold.settled).toBe(false);
    hold.tapped();
    expect(hold.released).toBe(true);
    expect(hold.settled).toBe(false);
    expect(await settledAfter(atEnd, 50)).toBe(false);
    expect(await settledAfter(atEnd, 200)).toBe(true);
    // Gathering over: nothing to wait for at the prefix's end any more.
    expect(hold.settled).toBe(true);
    expect(hold.atPrefixEnd()).toBeUndefined();

    // A read that reaches the prefix's end during the gathering waits for the rest of it; a release ends it.
    const cut = new ReadAheadHold(60_000, 60_000);
    cut.tapped();
    const during = cut.atPrefixEnd();
    expect(during).toBeDefined();
    expect(await settledAfter(during, 20)).toBe(false);
    cut.release();
    expect(cut.settled).toBe(true);
    expect(await settledAfter(during, 0)).toBe(true);

    // No hold, or a hold that ran out: a tap has nothing to gather.
    const none = new ReadAheadHold(0, 60_000);
    expect(none.settled).toBe(true);
    none.tapped();
    expect(none.atPrefixEnd()).toBeUndefined();
    const ran = new ReadAheadHold(10, 60_000);
    await ran.wait();
    ran.tapped();
    expect(ran.expired).toBe(true);
    expect(ran.atPrefixEnd()).toBeUndefined();
  });
});
