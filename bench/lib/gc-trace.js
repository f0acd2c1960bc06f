'use strict';
// Reading a pullthrough frontend's `--trace-gc` lines (the profiling scripts start it with the flag): its log is
// `frontend.log` beside the data dir (bench/lib/servers.js, startPullthrough).
const path = require('node:path');
const { readFile } = require('node:fs/promises');

/** The frontend's `--trace-gc` lines so far. */
async function frontendGcLines(proxy) {
  return (await readFile(path.join(proxy.dataDir, '..', 'frontend.log'), 'utf8')).split('\n').filter((l) => /^\[\d+:0x/.test(l));
}

/** A trace line's collection kind: Scavenge, Mark-Compact, Mark-sweep, Minor Mark-Compact or other. */
const gcKind = (line) => /(Scavenge|Mark-Compact|Mark-sweep|Minor Mark-Compact)/.exec(line)?.[1] ?? 'other';

module.exports = { frontendGcLines, gcKind };
