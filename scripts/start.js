// Process supervisor for one machine: a private redis-server (unless REDIS_URL is set), the
// hydrator and the frontend. Stops everything when one of them exits or on SIGINT/SIGTERM.
const { spawn } = require('node:child_process');
const net = require('node:net');
const path = require('node:path');
const { privateRedis } = require('./private-redis.js');
const { NODE_FLAGS, withNodeEnv } = require('./node-flags.js');

const root = path.join(__dirname, '..');
const env = withNodeEnv(process.env);
env.PULLTHROUGH_DATA_DIR ??= path.join(root, 'data');
env.PULLTHROUGH_RULES_FILE ??= path.join(root, 'config', 'rules.yaml');
const children = [];
let redisChild;

function anyFreePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * A free loopback port for the private redis-server that none of the apps is configured to listen on: the
 * kernel may hand out a port that is free only because the app that will listen on it has not started yet
 * (seen once: the frontend then failed with EADDRINUSE on its data port). Only the ports set in the
 * environment: the apps' defaults (5000-5002) lie below the kernel's range for port 0 (32768-60999 on Linux).
 */
async function freePort() {
  const names = ['PULLTHROUGH_DATA_PORT', 'PULLTHROUGH_ADMIN_PORT', 'PULLTHROUGH_HYDRATOR_PORT', 'PULLTHROUGH_PEER_PORT'];
  const taken = new Set(names.map((name) => Number(env[name])));
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await anyFreePort();
    if (!taken.has(port)) return port;
  }
  throw new Error('no free port for the private redis-server outside the apps\' configured ports');
}

function run(name, cmd, args) {
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`${name} exited (${signal ?? code}); stopping\n`);
      void stop(1);
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
const exited = (c) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.on('exit', r)));
const within = (ms, p) => Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]);
/**
 * The apps first (they drain: the frontend lets streams finish, the hydrator its jobs, up to
 * PULLTHROUGH_SHUTDOWN_TIMEOUT_MS), then redis-server, which writes its append-only file on the
 * way out: queued hydrations and webhook deliveries are there at the next start.
 */
async function stop(code) {
  if (stopping) return;
  stopping = true;
  const apps = children.filter((c) => c !== redisChild);
  for (const c of apps) c.kill('SIGTERM');
  const drainMs = Number(env.PULLTHROUGH_SHUTDOWN_TIMEOUT_MS ?? 20000) + 5000;
  await within(drainMs, Promise.all(apps.map(exited)));
  for (const c of apps) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (redisChild) {
    redisChild.kill('SIGTERM');
    await within(10000, exited(redisChild));
  }
  process.exit(code);
}

async function main() {
  if (!env.REDIS_URL) {
    const port = await freePort();
    const redis = privateRedis(env.PULLTHROUGH_DATA_DIR, port);
    redisChild = run('redis-server', 'redis-server', redis.args);
    await waitForPort(port);
    env.REDIS_URL = redis.url; // carries the password: never printed
    process.stderr.write(`private redis-server on ${redis.display} (password in ${path.join(env.PULLTHROUGH_DATA_DIR, 'redis-password')})\n`);
  }
  run('hydrator', process.execPath, [...NODE_FLAGS, path.join(root, 'apps/hydrator/dist/main.js')]);
  run('frontend', process.execPath, [...NODE_FLAGS, path.join(root, 'apps/frontend/dist/main.js')]);
}

process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
main().catch((err) => {
  process.stderr.write(`${err.message}\n`);
  void stop(1);
});
