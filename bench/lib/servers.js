'use strict';
// The processes a benchmark run owns: the loopback upstream, the reference proxy (distribution
// in proxy mode), this cache (frontend + hydrator from the built dist, private redis-server), a plain
// node file server for the loopback ceiling, the bench's own node servers (the ceilings' proxies) and the
// shaped link in front of the upstream. All run
// through test-support's startProcess: own process group, log file, killed on stop(), on exit, or by a watchdog if this process dies.
const { randomBytes } = require('node:crypto');
const net = require('node:net');
const { writeFile, mkdir } = require('node:fs/promises');
const path = require('node:path');
const { startProcess, waitUntil, freePort, tempDir, startRegistry, startRedis } = require('@pullthrough/test-support');

const ROOT = path.join(__dirname, '..', '..');
const { NODE_FLAGS, withNodeEnv } = require('../../scripts/node-flags.js');

async function waitForHttp(url, proc, what, timeoutMs = 20_000) {
  await waitUntil(
    async () => {
      const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      return res.status === 200;
    },
    {
      what,
      timeoutMs,
      abort: () => (proc.exitStatus() ? new Error(`${what} exited (${proc.exitStatus()}): ${proc.logTail()}`) : undefined),
    },
  );
}

/**
 * `start(dir)` in a fresh temp dir (test-support's tempDir); resolves its server, whose `stop()` then also
 * removes the dir. The dir is removed at once if `start` throws.
 */
async function inTempDir(prefix, start) {
  const dir = await tempDir(prefix);
  try {
    const server = await start(dir);
    return {
      ...server,
      stop: async () => {
        await server.stop();
        await dir.remove();
      },
    };
  } catch (err) {
    await dir.remove();
    throw err;
  }
}

/** The environment without REGISTRY_* (distribution maps them onto its config). */
const registryEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REGISTRY_')));

/** Debian's docker-registry (CNCF distribution 2.8) with `proxy.remoteurl` and its own storage. */
async function startReferenceProxy(remoteUrl, { label = 'reference' } = {}) {
  return inTempDir('bench-reference-', async (dir) => {
    const port = await freePort();
    const storage = path.join(dir.path, 'storage');
    await mkdir(storage);
    const config = {
      version: '0.1',
      log: { level: 'info', formatter: 'text', accesslog: { disabled: true }, fields: { service: 'registry' } },
      storage: { filesystem: { rootdirectory: storage }, delete: { enabled: true }, maintenance: { uploadpurging: { enabled: false } } },
      http: { addr: `127.0.0.1:${port}`, secret: randomBytes(16).toString('hex') },
      proxy: { remoteurl: remoteUrl },
    };
    const configPath = path.join(dir.path, 'config.yml');
    await writeFile(configPath, JSON.stringify(config, null, 2));
    const proc = await startProcess({
      command: 'docker-registry',
      args: ['serve', configPath],
      logPath: path.join(dir.path, 'registry.log'),
      ownedDir: dir.path,
      env: registryEnv(),
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/v2/`, proc, label);
    } catch (err) {
      await proc.stop();
      throw err;
    }
    return {
      name: 'reference',
      url,
      storageDir: storage,
      pids: { registry: proc.pid },
      /** Path of a committed blob in distribution's layout. */
      blobPath: (digest) => path.join(storage, 'docker/registry/v2/blobs/sha256', digest.slice(7, 9), digest.slice(7), 'data'),
      stop: () => proc.stop(),
    };
  });
}

/**
 * This cache: hydrator + frontend from apps/* /dist with a fresh data dir and queue prefix, a rule
 * `bench/*` -> `<upstreamHost>/bench/*`, the upstream listed as insecure. `profileDir`: run the
 * frontend with --cpu-prof (written there on SIGTERM exit). `nodeArgs`: more node flags for the frontend (both apps get scripts/node-flags.js's, as deployed).
 */
async function startPullthrough({ redisUrl, upstreamHost, profileDir, nodeArgs = [], env: extraEnv = {} }) {
  const dir = await tempDir('bench-pullthrough-');
  const procs = [];
  try {
    const dataDir = path.join(dir.path, 'data');
    await mkdir(dataDir);
    const rulesFile = path.join(dir.path, 'rules.yaml');
    await writeFile(rulesFile, `cacheRules:\n  - name: bench\n    sourceRepository: ${upstreamHost}/bench/*\n    targetRepository: bench/*\n`);
    const dataPort = await freePort();
    const adminPort = await freePort();
    const hydratorPort = await freePort();
    const env = {
      ...withNodeEnv(process.env),
      PULLTHROUGH_HOST: '127.0.0.1',
      PULLTHROUGH_DATA_PORT: String(dataPort),
      PULLTHROUGH_ADMIN_PORT: String(adminPort),
      PULLTHROUGH_HYDRATOR_PORT: String(hydratorPort),
      PULLTHROUGH_DATA_DIR: dataDir,
      PULLTHROUGH_RULES_FILE: rulesFile,
      PULLTHROUGH_INSECURE_UPSTREAMS: upstreamHost,
      // The bench upstream listens on loopback: the egress policy must allow it.
      PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1',
      PULLTHROUGH_ADMIN_TOKEN: randomBytes(16).toString('hex'),
      PULLTHROUGH_QUEUE_PREFIX: `bench${randomBytes(4).toString('hex')}`,
      REDIS_URL: redisUrl,
      ...extraEnv,
    };
    const node = (app, nodeArgs = []) =>
      startProcess({
        command: process.execPath,
        args: [...NODE_FLAGS, ...nodeArgs, path.join(ROOT, 'apps', app, 'dist', 'main.js')],
        logPath: path.join(dir.path, `${app}.log`),
        ownedDir: dir.path,
        env,
      });
    const hydrator = await node('hydrator');
    procs.push(hydrator);
    const frontend = await node('frontend', [...nodeArgs, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])]);
    procs.push(frontend);
    const url = `http://127.0.0.1:${dataPort}`;
    await waitForHttp(`${url}/v2/`, frontend, 'pullthrough frontend');
    return {
      name: 'pullthrough',
      url,
      adminUrl: `http://127.0.0.1:${adminPort}`,
      dataDir,
      pids: { frontend: frontend.pid, hydrator: hydrator.pid },
      stop: async () => {
        for (const p of procs.reverse()) await p.stop();
        await dir.remove();
      },
    };
  } catch (err) {
    for (const p of procs.reverse()) await p.stop();
    await dir.remove();
    throw err;
  }
}

const FILE_SERVER = `
const http = require('node:http'), fs = require('node:fs'), path = require('node:path');
const [dir, port] = process.argv.slice(1);
http.createServer((req, res) => {
  const file = path.join(dir, path.basename(req.url));
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) return res.writeHead(404).end();
    res.writeHead(200, { 'content-length': st.size, 'content-type': 'application/octet-stream' });
    fs.createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res);
  });
}).listen(Number(port), '127.0.0.1');
`;

/** The physical ceiling's server: plain node http + fs.createReadStream (1 MiB buffers) over `dir`. */
async function startFileServer(dir, logDir) {
  const port = await freePort();
  const proc = await startProcess({
    command: process.execPath,
    args: ['-e', FILE_SERVER, dir, String(port)],
    logPath: path.join(logDir, 'file-server.log'),
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    async () => {
      const res = await fetch(`${url}/none`);
      await res.arrayBuffer();
      return res.status === 404;
    },
    { what: 'file server' },
  );
  return { url, stop: () => proc.stop() };
}

/**
 * One of the bench's own node servers (`bench/lib/<script>`, with the apps' node flags unless `nodeFlags`
 * says otherwise) in front of `targetUrl`, its own process: `node <script> <targetUrl> <port> ...args`;
 * resolves once `/v2/` answers.
 */
async function startNodeServer(script, targetUrl, { logDir, args = [], ownedDir, what, nodeFlags = NODE_FLAGS }) {
  const port = await freePort();
  const proc = await startProcess({
    command: process.execPath,
    args: [...nodeFlags, path.join(__dirname, script), targetUrl, String(port), ...args],
    logPath: path.join(logDir, `${path.basename(script, '.js')}-${port}.log`),
    ...(ownedDir ? { ownedDir } : {}),
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/v2/`, proc, what);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { url, pid: proc.pid, proc };
}

/** A bare node pass-through proxy in front of `targetUrl` (bench/lib/pipe-proxy-child.js), its own process. */
async function startPipeProxy(targetUrl, logDir) {
  const { url, proc } = await startNodeServer('pipe-proxy-child.js', targetUrl, { logDir, what: 'pipe proxy' });
  return { url, stop: () => proc.stop() };
}

/**
 * The manifest-hit ceiling (bench/lib/manifest-ceiling-child.js): a bare node server answering every
 * manifest GET with `body` (written to `logDir`) and its content type and digest, its own process.
 */
async function startManifestCeiling({ body, contentType, digest }, logDir) {
  const file = path.join(logDir, `manifest-ceiling-${digest.slice('sha256:'.length, 'sha256:'.length + 12)}.json`);
  await writeFile(file, body);
  const { url, proc } = await startNodeServer('manifest-ceiling-child.js', file, { logDir, args: [contentType, digest], what: 'manifest ceiling server' });
  return { url, stop: () => proc.stop() };
}

/**
 * The verifying write-through proxy (bench/lib/verifying-proxy-child.js) in front of `targetUrl`, its own
 * process, its files in a temp dir of its own. `clear()` waits until every blob served so far is written
 * and fsynced, removes the files and resolves what the proxy stored ({ digest, size, file }[]) and its
 * errors; `settle()` the same without removing. `lagBytes`: the file's queue bounded to that many bytes
 * (verifying-proxy-child.js); unbounded by default.
 */
async function startVerifyingProxy(targetUrl, logDir, { lagBytes } = {}) {
  return inTempDir('bench-verifying-', async (dir) => {
    const args = [dir.path, ...(lagBytes === undefined ? [] : [String(lagBytes)])];
    const { url, proc } = await startNodeServer('verifying-proxy-child.js', targetUrl, { logDir, args, ownedDir: dir.path, what: 'verifying write-through proxy' });
    const control = async (method, what) => {
      const res = await fetch(`${url}/_ceiling/${what}`, { method, signal: AbortSignal.timeout(120_000) });
      if (res.status !== 200) throw new Error(`verifying write-through proxy: ${method} ${what} answered ${res.status}: ${await res.text()}`);
      return res.json();
    };
    return {
      url,
      dir: dir.path,
      pid: proc.pid,
      settle: () => control('GET', 'settle'),
      clear: () => control('DELETE', 'files'),
      stop: () => proc.stop(),
    };
  });
}

/**
 * The herd's fan-out ceiling (bench/lib/fanout-server-child.js) in front of `targetUrl`, its own process. With
 * `verify`, the verifying one: each blob hashed, held until verified, written to a file and fsynced (in a
 * temporary directory of its own); `settle()` waits for its files and says how many were stored and what failed.
 */
async function startFanoutServer(targetUrl, logDir, { verify = false } = {}) {
  if (!verify) {
    const { url, proc } = await startNodeServer('fanout-server-child.js', targetUrl, { logDir, what: 'fan-out server' });
    return { url, pid: proc.pid, stop: () => proc.stop() };
  }
  return inTempDir('bench-fanout-verifying-', async (dir) => {
    const { url, proc } = await startNodeServer('fanout-server-child.js', targetUrl, { logDir, args: [dir.path], ownedDir: dir.path, what: 'verifying fan-out server' });
    const settle = async () => {
      const res = await fetch(`${url}/_ceiling/settle`, { signal: AbortSignal.timeout(120_000) });
      if (res.status !== 200) throw new Error(`verifying fan-out server: settle answered ${res.status}: ${await res.text()}`);
      return res.json();
    };
    return { url, dir: dir.path, pid: proc.pid, settle, stop: () => proc.stop() };
  });
}

/**
 * The shaped link (bench/lib/link-shaper.js) in front of `targetUrl`, its own process: `bytesPerSecond`
 * shared by every response body (0: unlimited), `rttMs` per request/response and per new connection.
 */
async function startShapingProxy(targetUrl, { bytesPerSecond, rttMs, logDir }) {
  // Without the apps' node flags, as it has always run (its CPU is reported).
  const { url, pid, proc } = await startNodeServer('shaping-proxy-child.js', targetUrl, { logDir, args: [String(bytesPerSecond), String(rttMs)], what: 'shaping proxy', nodeFlags: [] });
  return { url, host: new URL(url).host, pid, bytesPerSecond, rttMs, stop: () => proc.stop() };
}

/** redis-server's process id, from `INFO server` (test-support's RedisServer does not expose it). */
function redisPid(redisUrl) {
  const { hostname, port } = new URL(redisUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let text = '';
    socket.setTimeout(5_000, () => socket.destroy(new Error('redis INFO: timed out')));
    socket.on('connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
      const m = /^process_id:(\d+)/m.exec(text);
      if (m) {
        socket.end();
        resolve(Number(m[1]));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('redis INFO: no process_id in the answer')));
  });
}

/** { command: calls } from redis-server's INFO commandstats (for the profiling scripts). */
async function redisCommandCalls(redisUrl) {
  const Redis = require('ioredis');
  const client = new Redis(redisUrl, { lazyConnect: true });
  try {
    await client.connect();
    const text = await client.info('commandstats');
    return Object.fromEntries([...text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
  } finally {
    client.disconnect();
  }
}

/** For the profiling scripts: an upstream docker-registry and a redis-server; `stop()` ends both. */
async function startUpstreamAndRedis() {
  const upstream = await startRegistry();
  try {
    const redis = await startRedis();
    return { upstream, redis, stop: async () => (await redis.stop(), await upstream.stop()) };
  } catch (err) {
    await upstream.stop();
    throw err;
  }
}

module.exports = { startUpstreamAndRedis, startReferenceProxy, startPullthrough, startFileServer, startPipeProxy, startManifestCeiling, startVerifyingProxy, startFanoutServer, startShapingProxy, redisPid, redisCommandCalls };
