'use strict';
// CPU time of processes from /proc/<pid>/stat: utime + stime (fields 14 and 15, in clock ticks; every
// thread of the process included), divided by `getconf CLK_TCK`; and minor page faults (field 10).
const { execFileSync } = require('node:child_process');
const { readFile } = require('node:fs/promises');

/**
 * utime and stime ticks and minor faults (minflt) of one /proc/<pid>/stat line. The command name (field 2) is in parentheses and
 * may itself hold spaces and parentheses, so fields are counted from the last ')'.
 */
function parseStat(text) {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`);
  const fields = text.slice(close + 2).trim().split(/\s+/); // fields[0] is field 3 (state)
  const minflt = Number(fields[10 - 3]);
  const utime = Number(fields[14 - 3]);
  const stime = Number(fields[15 - 3]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime)) throw new Error(`/proc/<pid>/stat: no utime/stime in ${text.slice(0, 80)}`);
  return { utime, stime, minflt };
}

let ticks;
/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux when getconf is missing). */
function clockTicks() {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

/** User and system CPU seconds and minor page faults of one /proc/<pid>/stat (or task stat) line. */
function statTimes(text) {
  const { utime, stime, minflt } = parseStat(text);
  return { user: utime / clockTicks(), sys: stime / clockTicks(), faults: minflt };
}

/** CPU seconds (user + system) `pid` has used so far; undefined once it is gone. */
async function cpuSeconds(pid) {
  try {
    const { utime, stime } = parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
    return (utime + stime) / clockTicks();
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'ESRCH') return undefined;
    throw err;
  }
}

/** { [name]: CPU seconds so far } for `{ [name]: pid }`. */
async function cpuSnapshot(pids) {
  const out = {};
  for (const [name, pid] of Object.entries(pids)) out[name] = await cpuSeconds(pid);
  return out;
}

/** CPU seconds each process used between two snapshots (undefined where either is missing). */
function cpuDelta(before, after) {
  const out = {};
  for (const name of Object.keys(after)) {
    const a = before[name];
    const b = after[name];
    out[name] = typeof a === 'number' && typeof b === 'number' ? b - a : undefined;
  }
  return out;
}

/** Start measuring; `stop()` resolves { [name]: CPU seconds since start }. */
async function measureCpu(pids) {
  const before = await cpuSnapshot(pids);
  return { stop: async () => cpuDelta(before, await cpuSnapshot(pids)) };
}

/** This process's own CPU seconds (the bench client's, where it pulls), user + system, since `from` (a process.cpuUsage() result). */
function ownCpuSince(from) {
  const { user, system } = process.cpuUsage(from);
  return (user + system) / 1e6;
}

module.exports = { parseStat, statTimes, clockTicks, cpuSeconds, cpuSnapshot, cpuDelta, measureCpu, ownCpuSince };
