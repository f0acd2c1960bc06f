'use strict';
// `node --require bench/lib/memory-preload.js` (bench/profile-shaped.js --memory; or any app through NODE_OPTIONS):
// samples this process's memory every 5 ms: resident set (VmRSS, and its anonymous and file-backed parts from
// /proc/self/status), V8's heap (committed and used, per space: new, old, code, large objects), the memory node
// keeps outside it (external, ArrayBuffers), the upstream reader's slabs (MiB made, free) and the process's
// buffer pool (@pullthrough/egress processBufferPool: MiB idle; MiB taken and not given back, blocks of 128 KiB and
// more and smaller ones; buffers made, filled again, given back).
// Writes lines `<epoch ms> <field>=<value> ...` to $PULLTHROUGH_MEMORY_FILE (`%p`: the pid) every second and at
// exit. A sampler inside the process cannot run while its loop is busy: its peaks read lower than an outside
// sampler's (the bench's). A diagnostic only: no product code reads it.
const path = require('node:path');
const v8 = require('node:v8');
const { readFileSync, writeFileSync } = require('node:fs');
const { performance } = require('node:perf_hooks');

const file = process.env.PULLTHROUGH_MEMORY_FILE?.replace('%p', String(process.pid));
if (file) {
  const MiB = 1024 * 1024;
  const lines = [];
  const { statusKiB } = require('./rss.js');
  const kib = (status, field) => statusKiB(status, field) / 1024;
  // The app's own copy of @pullthrough/egress (resolved from its main script), if it has one.
  let egress;
  try {
    egress = require(require.resolve('@pullthrough/egress', { paths: [path.dirname(process.argv[1] ?? '.')] }));
  } catch {
    // not an app of this repository: no pool figures
  }
  const slabPools = new Set();
  if (egress?.SlabPool) {
    const take = egress.SlabPool.prototype.take;
    egress.SlabPool.prototype.take = function sampledTake() {
      slabPools.add(this);
      return take.call(this);
    };
  }
  // Bytes of the process pool's buffers taken and not given back yet, by size: blocks (128 KiB and more) and 64 KiB
  // buffers (upstream slabs, and store reads into them).
  const inUse = { blocks: 0, small: 0 };
  if (egress?.BufferPool) {
    const { acquire, release } = egress.BufferPool.prototype;
    const classOf = (size) => (size >= 128 * 1024 ? 'blocks' : 'small');
    egress.BufferPool.prototype.acquire = function sampledAcquire(size) {
      if (this === egress.processBufferPool()) inUse[classOf(size)] += size;
      return acquire.call(this, size);
    };
    egress.BufferPool.prototype.release = function sampledRelease(buffer) {
      if (this === egress.processBufferPool()) inUse[classOf(buffer.length)] -= buffer.length;
      return release.call(this, buffer);
    };
  }
  const slabMiB = (key) => [...slabPools].reduce((n, p) => n + (key === 'free' ? p.freeSlabs : p[key]) * p.slabSize, 0) / MiB;
  const sample = () => {
    const status = readFileSync('/proc/self/status', 'utf8');
    const usage = process.memoryUsage();
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size / MiB]));
    const pool = egress?.processBufferPool?.();
    const fields = {
      rss: kib(status, 'VmRSS'),
      anon: kib(status, 'RssAnon'),
      file: kib(status, 'RssFile'),
      heapTotal: usage.heapTotal / MiB,
      heapUsed: usage.heapUsed / MiB,
      newSpace: spaces.new_space ?? 0,
      oldSpace: spaces.old_space ?? 0,
      codeSpace: spaces.code_space ?? 0,
      largeObjects: (spaces.large_object_space ?? 0) + (spaces.new_large_object_space ?? 0) + (spaces.code_large_object_space ?? 0),
      external: usage.external / MiB,
      arrayBuffers: usage.arrayBuffers / MiB,
      slabsMade: slabMiB('made'),
      slabsFree: slabMiB('free'),
      poolIdle: (pool?.idleSize ?? 0) / MiB,
      poolMade: pool?.made ?? 0,
      blocksInUse: inUse.blocks / MiB,
      smallInUse: inUse.small / MiB,
      poolRefilled: pool?.refilled ?? 0,
      poolEmptied: pool?.emptied ?? 0,
    };
    lines.push(`${(performance.timeOrigin + performance.now()).toFixed(1)} ${Object.entries(fields).map(([k, v]) => `${k}=${v.toFixed(2)}`).join(' ')}`);
  };
  const flush = () => {
    try {
      writeFileSync(file, lines.join('\n') + '\n');
    } catch {
      // a diagnostic: never let it stop the process
    }
  };
  setInterval(sample, 5).unref();
  setInterval(flush, 1000).unref();
  process.on('exit', flush);
}
