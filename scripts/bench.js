// `npm run bench [-- --quick] [-- --profile=<dir>] [-- --bandwidth=<MiB/s> --rtt=<ms>]`: build, then
// benchmark this cache against the reference pull-through cache (bench/run.js; the shaped upstream link
// defaults to 100 MiB/s and 20 ms). Needs docker-registry and redis-server (scripts/test installs them).
// Results: bench/results/latest.{json,md,svg} (quick.* with --quick).
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = process.argv.slice(2);
// One measurement at a time (a build meanwhile would also replace what a running one starts).
try {
  require(path.join(root, 'bench', 'lib', 'machine-lock.js')).takeMachine('npm run bench');
} catch (err) {
  process.stderr.write(`bench: ${err.message}\n`);
  process.exit(1);
}
if (!args.includes('--no-build')) {
  execFileSync('bash', ['scripts/install-deps.sh'], { cwd: root, stdio: 'inherit' });
  execFileSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
  });
}
require(path.join(root, 'bench', 'run.js'))
  .main(args.filter((a) => a !== '--no-build'))
  .then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
