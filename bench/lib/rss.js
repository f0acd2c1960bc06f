'use strict';
// Peak resident memory of processes, sampled from /proc/<pid>/status (VmRSS) plus VmHWM.
const { readFile } = require('node:fs/promises');

/** A `<field>: <n> kB` line of a /proc/<pid>/status text, in KiB (NaN when absent). */
const statusKiB = (status, field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);

async function memoryOf(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return { rss: statusKiB(status, 'VmRSS') * 1024, hwm: statusKiB(status, 'VmHWM') * 1024 };
  } catch {
    return undefined;
  }
}

/** Sample every `intervalMs` until stop(); stop() resolves { [name]: { peakRss, hwm } } in bytes. */
function sampleRss(pids, intervalMs = 50) {
  const peak = Object.fromEntries(Object.keys(pids).map((k) => [k, 0]));
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const [name, pid] of Object.entries(pids)) {
        const m = await memoryOf(pid);
        if (m && m.rss > peak[name]) peak[name] = m.rss;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const out = {};
      for (const [name, pid] of Object.entries(pids)) out[name] = { peakRss: peak[name], hwm: (await memoryOf(pid))?.hwm };
      return out;
    },
  };
}

module.exports = { memoryOf, sampleRss, statusKiB };
