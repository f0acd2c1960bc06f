'use strict';
// One measurement at a time on this machine: `npm run bench` and the profiling scripts in bench/ take a lock file
// while they run, and a second one refuses to start while the first is alive. Two measurements on the same
// 2 cores measure each other (the twenty-sixth session's herd A/B batches were lost that way).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const LOCK_FILE = path.join(os.tmpdir(), 'pullthrough-bench.lock');

/** Whether a process with this pid exists (one we may not signal exists too). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** The lock's holder as written, or undefined when the file is gone or unreadable. */
function holderOf(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Take the machine for `what` until this process exits. Throws when another live process holds it; a lock
 * left by a process that is gone is taken over.
 */
function takeMachine(what, file = LOCK_FILE) {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify({ pid: process.pid, what, since: new Date().toISOString() }), { flag: 'wx' });
      process.on('exit', () => {
        if (holderOf(file)?.pid === process.pid) fs.rmSync(file, { force: true });
      });
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const holder = holderOf(file);
      if (holder && Number.isInteger(holder.pid) && alive(holder.pid)) {
        throw new Error(`another measurement is running on this machine: ${holder.what} (pid ${holder.pid}, since ${holder.since}); two measurements on the same cores measure each other (lock: ${file})`);
      }
      // Left by a process that is gone (or half written): taken over.
      fs.rmSync(file, { force: true });
    }
  }
  throw new Error(`could not take the measurement lock ${file}`);
}

module.exports = { takeMachine, LOCK_FILE };
