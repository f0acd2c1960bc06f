'use strict';
// What storing costs on this machine, with no client in the way: GET a blob from the upstream,
// hash it (sha256) and write it to a new file a MiB at a time (one write in flight while the next
// MiB arrives), then fsync. A write-through cache cannot pull a miss faster than this.
const { createHash } = require('node:crypto');
const { open, rm } = require('node:fs/promises');
const path = require('node:path');
const { Pool } = require('undici');

const MiB = 1024 * 1024;

/** Fetch `blob` ({digest, size}) of `repository` from `baseUrl` into a file under `dir`; MiB/s. */
async function writeThroughOnce(baseUrl, repository, blob, dir) {
  const pool = new Pool(baseUrl, { connections: 1 });
  const file = path.join(dir, `write-through-${process.hrtime.bigint()}`);
  const handle = await open(file, 'wx');
  try {
    const started = process.hrtime.bigint();
    const res = await pool.request({ path: `/v2/${repository}/blobs/${blob.digest}`, method: 'GET' });
    if (res.statusCode !== 200) throw new Error(`write-through ceiling: GET blob answered ${res.statusCode}`);
    const hash = createHash('sha256');
    let batch = [];
    let batchBytes = 0;
    let bytes = 0;
    let writing = Promise.resolve();
    for await (const chunk of res.body) {
      hash.update(chunk);
      bytes += chunk.length;
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= MiB) {
        await writing;
        writing = handle.writev(batch).then(() => undefined);
        batch = [];
        batchBytes = 0;
      }
    }
    await writing;
    if (batch.length > 0) await handle.writev(batch);
    await handle.sync();
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    if (bytes !== blob.size || `sha256:${hash.digest('hex')}` !== blob.digest) throw new Error('write-through ceiling: the blob did not match its digest');
    return bytes / MiB / (ms / 1000);
  } finally {
    await handle.close();
    await rm(file, { force: true });
    await pool.close();
  }
}

module.exports = { writeThroughOnce };
