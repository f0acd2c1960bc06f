'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { parseStat, clockTicks, cpuSeconds, measureCpu } = require('../lib/proc-cpu.js');
const { memoryOf } = require('../lib/rss.js');

test('parseStat counts fields from the last parenthesis (a command name may hold spaces and parentheses)', () => {
  const rest = ['S', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '250', '50', '7', '8', '20', '0'];
  assert.deepEqual(parseStat(`4242 (node (odd) x) ${rest.join(' ')}\n`), { utime: 250, stime: 50, minflt: 7 });
  assert.throws(() => parseStat('no parenthesis here'), /not a \/proc\/<pid>\/stat line/);
  assert.throws(() => parseStat('1 (x) S 1'), /no utime\/stime/);
});

test('reads the CPU time and peak RSS of a real child process from /proc', async (t) => {
  const ticks = clockTicks();
  assert.ok(Number.isInteger(ticks) && ticks > 0, `CLK_TCK ${ticks}`);
  // Busy for 600 ms of wall time, holding 40 MiB, then idle until killed.
  const child = spawn(process.execPath, ['-e', 'const b = Buffer.alloc(40 * 1024 * 1024, 1); const end = Date.now() + 600; while (Date.now() < end); setInterval(() => b[0]++, 1000);'], { stdio: 'ignore' });
  t.after(() => child.kill('SIGKILL'));
  const started = Date.now();
  let used = 0;
  while (used < 0.2 && Date.now() - started < 20_000) {
    await new Promise((r) => setTimeout(r, 50));
    used = await cpuSeconds(child.pid);
  }
  assert.ok(used >= 0.2, `the busy child used ${used} CPU s per /proc/<pid>/stat`);
  assert.ok(used <= (Date.now() - started) / 1000 + 0.5, `the child cannot use ${used} s of one core in ${(Date.now() - started) / 1000} s`);
  while (Date.now() - started < 1_000) await new Promise((r) => setTimeout(r, 50)); // past its busy loop
  const idle = await measureCpu({ child: child.pid });
  await new Promise((r) => setTimeout(r, 300));
  const delta = await idle.stop();
  assert.ok(delta.child >= 0 && delta.child < 0.2, `an idle child used ${delta.child} CPU s in 300 ms`);
  const memory = await memoryOf(child.pid);
  assert.ok(memory.hwm >= 40 * 1024 * 1024, `VmHWM ${memory.hwm} B, the child touched 40 MiB`);
  assert.ok(memory.rss <= memory.hwm);
});

test('a process that is gone has no CPU time', async () => {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('exit', resolve));
  await new Promise((r) => setTimeout(r, 50)); // reaped by node
  assert.equal(await cpuSeconds(child.pid), undefined);
});
