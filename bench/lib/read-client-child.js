'use strict';
// One upstream blob GET the way a cold miss reads it (for bench/profile-pooled-reads.js), in its own
// process: `node read-client-child.js <undici|pooled> <url> <file>`. The body is hashed (sha256) and
// written to `<file>` in gathered 1 MiB `writev`s, two in flight, then fsynced; the read waits while
// more than 16 MiB are queued for the file (a bounded write lag, as in the frontend). `undici`: the egress
// agent the product uses today (a new buffer per socket read); `pooled`: PooledHttpClient (reads
// into reused slabs; each chunk released once its write is done). Prints one JSON line: bytes, ms,
// CPU seconds of this process, sha256 prefix, VmHWM MiB, slabs made and reused. Run with --trace-gc
// to count full collections (the parent does). About 20 MB of live objects stand in for the
// frontend's heap (module graph), whose size sets V8's limits.
const fs = require('node:fs');
const crypto = require('node:crypto');
const { BufferPool, PooledHttpClient, SlabPool, EgressPolicy, createEgressAgent, request } = require('@pullthrough/egress');

const [mode, url, file] = process.argv.slice(2);
const heapLikeTheFrontends = [];
for (let i = 0; i < 200_000; i++) heapLikeTheFrontends.push({ i, name: `x${i}`, list: [i] });

const MiB = 1024 * 1024;
const MAX_QUEUED = 16 * MiB;

/**
 * Gathered 1 MiB writes at their offsets, two in flight; `written(chunk)` once a chunk is on the file.
 * `write` resolves at once, or once the queue is below MAX_QUEUED again.
 */
function fileSink(fd, written) {
  let batch = [];
  let bytes = 0;
  let position = 0;
  let inFlight = 0;
  let queued = 0;
  let idle;
  let room;
  const queue = [];
  const pump = () => {
    while (inFlight < 2 && queue.length > 0) {
      const job = queue.shift();
      inFlight++;
      fs.writev(fd, job.buffers, job.position, (err) => {
        if (err) throw err;
        inFlight--;
        for (const chunk of job.buffers) written(chunk);
        queued -= job.bytes;
        if (queued < MAX_QUEUED) room?.();
        pump();
        if (inFlight === 0 && queue.length === 0) idle?.();
      });
    }
  };
  const flush = () => {
    if (bytes === 0) return;
    queue.push({ buffers: batch, position, bytes });
    position += bytes;
    batch = [];
    bytes = 0;
    pump();
  };
  return {
    async write(chunk) {
      batch.push(chunk);
      bytes += chunk.length;
      queued += chunk.length;
      if (bytes >= MiB) flush();
      if (queued >= MAX_QUEUED) await new Promise((resolve) => (room = resolve));
    },
    async finish() {
      flush();
      if (inFlight > 0 || queue.length > 0) await new Promise((resolve) => (idle = resolve));
      await new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    },
  };
}

async function main() {
  const policy = new EgressPolicy({ allow: '127.0.0.1' });
  const cpu = process.cpuUsage();
  const started = Date.now();
  const fd = fs.openSync(file, 'wx');
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  let slabs = {};
  if (mode === 'pooled') {
    // Free slabs kept: as many as the bounded write lag can hold, so a slab is made once, not per burst.
    const client = new PooledHttpClient(policy, { pool: new SlabPool(64 * 1024, new BufferPool(MAX_QUEUED + 2 * MiB)) });
    const res = await client.request(url);
    const sink = fileSink(fd, (chunk) => res.body.release(chunk));
    for await (const chunk of res.body) {
      hash.update(chunk);
      bytes += chunk.length;
      await sink.write(chunk);
    }
    await sink.finish();
    slabs = { made: client.pool.made, reused: client.pool.reused };
    await client.close();
  } else if (mode === 'undici') {
    const res = await request(url, { dispatcher: createEgressAgent(policy) });
    const sink = fileSink(fd, () => undefined);
    for await (const chunk of res.body) {
      hash.update(chunk);
      bytes += chunk.length;
      await sink.write(chunk);
    }
    await sink.finish();
  } else throw new Error(`unknown mode ${mode}`);
  fs.closeSync(fd);
  const used = process.cpuUsage(cpu);
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
  console.log(JSON.stringify({ mode, bytes, ms: Date.now() - started, cpu: (used.user + used.system) / 1e6, sha256: hash.digest('hex').slice(0, 16), hwmMiB: hwm, ...slabs }));
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
