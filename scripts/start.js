// Process supervisor for one machine: a private redis-server (unless REDIS_URL is set), the
// hydrator and the frontend. Stops everything when one of them exits or on SIGINT/SIGTERM.
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { privateRedis } = require('./private-redis.js');

const root = path.join(__dirname, '..');
const env = { ...process.env };
env.PULLTHROUGH_DATA_DIR ??= path.join(root, 'data');
env.PULLTHROUGH_RULES_FILE ??= path.join(root, 'config', 'rules.yaml');
const children = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

function run(name, cmd, args) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`${name} exited (${signal ?? code}); stopping\n`);
      stop(1);
    }
  });
  children.push(child);
  return child;
}

async function waitForPort(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.end(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`redis-server did not start on port ${port}`);
}

let stopping = false;
function stop(code) {
  stopping = true;
  for (const c of [...children].reverse()) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 3000).unref();
  Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.on('exit', r))))).then(() => process.exit(code));
}

async function main() {
  if (!env.REDIS_URL) {
    const port = await freePort();
    const redis = privateRedis(env.PULLTHROUGH_DATA_DIR, port);
    run('redis-server', 'redis-server', redis.args);
    await waitForPort(port);
    env.REDIS_URL = redis.url; // carries the password: never printed
    process.stderr.write(`private redis-server on ${redis.display} (password in ${path.join(env.PULLTHROUGH_DATA_DIR, 'redis-password')})\n`);
  }
  run('hydrator', process.execPath, [path.join(root, 'apps/hydrator/dist/main.js')]);
  run('frontend', process.execPath, [path.join(root, 'apps/frontend/dist/main.js')]);
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
main().catch((err) => {
  process.stderr.write(`${err.message}\n`);
  stop(1);
});
