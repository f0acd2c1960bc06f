'use strict';
// `node bench/profile-pooled-reads.js [--rounds=3] [--mib=512]` (run `npm run build` first): what reading an
// upstream body into pooled slabs (@pullthrough/egress PooledHttpClient) saves against undici, for one
// blob read the way a cold miss reads it: hashed and written to a new file (bench/lib/read-client-child.js,
// each in its own process with the apps' node flags and environment and --trace-gc). The blob comes from a
// node file server on loopback (its CPU is not counted). Per round, both clients (order alternating);
// prints each read's time, CPU seconds, full and young collections, peak RSS and slabs made/reused, then
// the medians. Not part of `npm run bench`: the product does not read through PooledHttpClient yet.
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { tempDir } = require('@pullthrough/test-support');
const { NODE_FLAGS, withNodeEnv } = require('../scripts/node-flags.js');
const { median } = require('./lib/stats.js');
const { flagValue, runScript } = require('./lib/script.js');

const MiB = 1024 * 1024;

/** A file of `mib` MiB of pseudo-random bytes. */
function writeBlob(file, mib) {
  const fd = fs.openSync(file, 'w');
  const block = crypto.randomBytes(MiB);
  for (let i = 0; i < mib; i++) {
    block.writeUInt32LE(i, 0);
    fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
}

/** One read by `mode` in its own process: its JSON line plus the collections its --trace-gc printed. */
function readOnce(mode, url, file) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...NODE_FLAGS, '--trace-gc', path.join(__dirname, 'lib', 'read-client-child.js'), mode, url, file], { env: withNodeEnv(process.env) });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code !== 0 || !line) return reject(new Error(`${mode} read failed (exit ${code}): ${err.trim()}`));
      resolve({ ...JSON.parse(line), fullGcs: (out.match(/Mark-Compact/g) ?? []).length, youngGcs: (out.match(/Scavenge/g) ?? []).length });
    });
  });
}

async function main(argv) {
  const flag = (name, dflt) => flagValue(argv, name, dflt);
  const rounds = Number(flag('rounds', '3'));
  const mib = Number(flag('mib', '512'));
  const dir = await tempDir('bench-pooled-reads-');
  const blob = path.join(dir.path, 'blob');
  writeBlob(blob, mib);
  const server = http.createServer((_req, res) => {
    res.setHeader('content-length', fs.statSync(blob).size);
    fs.createReadStream(blob, { highWaterMark: MiB }).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${server.address().port}/blob`;
    const results = { undici: [], pooled: [] };
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 === 0 ? ['undici', 'pooled'] : ['pooled', 'undici']) {
        const file = path.join(dir.path, `read-${r}-${mode}`);
        const res = await readOnce(mode, url, file);
        fs.rmSync(file);
        results[mode].push(res);
        const slabs = res.made === undefined ? '' : `, slabs made ${res.made}, reused ${res.reused}`;
        console.log(`round ${r + 1}/${rounds} ${mode.padEnd(6)} ${(mib / (res.ms / 1000)).toFixed(0)} MiB/s, CPU ${res.cpu.toFixed(2)} s, full GCs ${res.fullGcs}, young GCs ${res.youngGcs}, peak RSS ${res.hwmMiB.toFixed(1)} MiB${slabs}, sha256 ${res.sha256}`);
      }
    }
    for (const [mode, list] of Object.entries(results)) {
      console.log(`${mode.padEnd(6)} median: ${median(list.map((x) => mib / (x.ms / 1000))).toFixed(0)} MiB/s, CPU ${median(list.map((x) => x.cpu)).toFixed(2)} s, full GCs ${median(list.map((x) => x.fullGcs))}, peak RSS ${median(list.map((x) => x.hwmMiB)).toFixed(1)} MiB`);
    }
  } finally {
    server.close();
    await dir.remove();
  }
}

runScript(main);
