'use strict';
// How the profiling scripts in bench/ run: `main(argv)`, what it started stopped last first, a failure's exit code.

/** Stop what a script started, the last started first. */
async function stopAll(stops) {
  for (const stop of stops.reverse()) await stop();
}

/** `--name=value` of `argv` (the value after the first `=`), or `fallback` when it is not given. */
function flagValue(argv, name, fallback) {
  const prefix = `--${name}=`;
  return argv.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

/** Run `main` with the script's arguments; a failure is printed and exits with 1. */
function runScript(main) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

module.exports = { flagValue, runScript, stopAll };
