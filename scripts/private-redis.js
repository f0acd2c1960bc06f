// The private redis-server scripts/start.js runs when REDIS_URL is not set. It gets a generated
// password, kept in the data dir (mode 0600, like the admin token) and handed to redis-server in a
// config file (mode 0600), never on the command line where `ps` would show it. The URL carrying the
// password goes only to the apps' environment; print `display`, never `url`.
// It keeps its data: an append-only file under <dataDir>/redis (fsync every second, and on a clean
// shutdown), so queued hydrations and webhook deliveries survive a restart of the machine.
'use strict';
const { randomBytes } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

/** The password kept in `<dataDir>/redis-password`, made on first use. */
function redisPassword(dataDir) {
  const file = path.join(dataDir, 'redis-password');
  try {
    const saved = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(saved)) return saved;
  } catch (err) {
    if (err.code !== 'ENOENT') throw err;
  }
  const password = randomBytes(32).toString('hex');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(file, password + '\n', { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return password;
}

/** Write the config file; `args` start redis-server with it, `url` (secret) connects to it. */
function privateRedis(dataDir, port) {
  const dir = path.join(dataDir, 'redis');
  fs.mkdirSync(dir, { recursive: true });
  const password = redisPassword(dataDir);
  const configPath = path.join(dir, 'redis.conf');
  const config = [`port ${port}`, 'bind 127.0.0.1', `dir ${JSON.stringify(dir)}`, 'save ""', 'appendonly yes', 'appendfsync everysec', 'loglevel warning', `requirepass ${password}`];
  // Make the file 0600 before the password is in it (a mode given to writeFileSync applies only to a new file).
  fs.closeSync(fs.openSync(configPath, 'a', 0o600));
  fs.chmodSync(configPath, 0o600);
  fs.writeFileSync(configPath, config.join('\n') + '\n');
  return { args: [configPath], url: `redis://:${password}@127.0.0.1:${port}`, display: `redis://127.0.0.1:${port}` };
}

module.exports = { privateRedis, redisPassword };
