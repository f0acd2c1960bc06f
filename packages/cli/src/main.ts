#!/usr/bin/env node
import { homedir } from 'node:os';
import { run } from './run.js';

// `pullthrough ...`: the admin API from the command line. Exit codes: see exit-codes.ts.
// A reader that went away (`pullthrough cache list | head -1`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
run({ argv: process.argv.slice(2), env: process.env, home: homedir(), streams: { stdout: process.stdout, stderr: process.stderr } }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
