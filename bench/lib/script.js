'use strict';
// How the profiling scripts in bench/ run: `main(argv)` holding the machine, what it started stopped last first, a failure's exit code.
const path = require('node:path');
const { takeMachine } = require('./machine-lock.js');

/** Stop what a script started, the last started first. */
async function stopAll(stops) {
  for (const stop of stops.reverse()) await stop();
}

/** `--name=value` of `argv` (the value after the first `=`), or `fallback` when it is not given. */
function flagValue(argv, name, fallback) {
  const prefix = `--${name}=`;
  return argv.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

/** Run `main` with the script's arguments, holding the machine (machine-lock.js); a failure is printed and exits with 1. */
function runScript(main) {
  Promise.resolve()
    .then(() => takeMachine(path.basename(process.argv[1] ?? 'a profiling script')))
    .then(() => main(process.argv.slice(2)))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}

module.exports = { flagValue, runScript, stopAll };
