'use strict';
// One measurement at a time (bench/lib/machine-lock.js): real processes holding, releasing and abandoning the lock.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { takeMachine } = require('../lib/machine-lock.js');

/** A node process that takes the lock `file` for `what`, says so, and waits until its stdin closes. */
function holder(file, what) {
  const code = `require(${JSON.stringify(path.join(__dirname, '..', 'lib', 'machine-lock.js'))}).takeMachine(${JSON.stringify(what)}, ${JSON.stringify(file)}); console.log('held'); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const held = new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (status) => reject(new Error(`holder exited with ${status}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, held, exited };
}

test('a second measurement is refused while the first runs; the lock is free once it ends, and taken over from one that died', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'machine-lock-'));
  const file = path.join(dir, 'lock');
  try {
    const first = holder(file, 'npm run bench');
    await first.held;
    assert.throws(() => takeMachine('profile-shaped.js', file), /another measurement is running on this machine: npm run bench \(pid \d+/);
    // Ends normally: the lock file goes with it.
    first.child.stdin.end();
    await first.exited;
    assert.equal(fs.existsSync(file), false);

    // Killed: its lock file stays, naming a process that is gone, and the next one takes it over.
    const second = holder(file, 'profile-warm.js');
    await second.held;
    second.child.kill('SIGKILL');
    await second.exited;
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).what, 'profile-warm.js');
    takeMachine('profile-cold.js', file);
    assert.deepEqual({ ...JSON.parse(fs.readFileSync(file, 'utf8')), since: undefined }, { pid: process.pid, what: 'profile-cold.js', since: undefined });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
