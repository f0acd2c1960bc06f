'use strict';
// `node bench/profile-shaped.js [--rounds=2] [--mib=N [--layers=K]] [--clients=C] [--rate=100] [--rtt=20] [--out=<dir>] [--ceilings] [--warm-images=4] [--memory [--memory-timeline=<ms>]] [--node-arg=<flag>]`: where a cold pull through the
// shaped link spends its time, blob by blob (run `npm run build` first). Per round: the bench's 60-layer
// image (or one `--mib` layer) pulled directly through the link, then through a fresh pullthrough (which
// fetches through the same link), 3 blobs at a time with the bench's client (bench/lib/http-client.js). For each
// blob: from the client's request to the link getting a request for it (atLink), to the link sending its response
// head (linkHead), to the client's first body byte (head) and to its last byte (total). For the pullthrough, the
// frontend's side (bench/lib/timeline-preload.js): request in -> upstream request created, upstream request
// sent -> its response head, upstream head -> response head out, and the manifest's own events (process clocks: epoch ms from each
// process's performance.timeOrigin); its event loop's utilization and delay during the pull; and redis-server's
// commands per blob during the pull (`INFO commandstats`: every process's, the hydrator's polling included).
// `--clients=C`: C clients pull through this cache at once (a herd; the bench's is 20 clients on 4 layers of
// 10 MiB: `--clients=20 --mib=10 --layers=4`); the per-blob lines are the first client's, and a herd line gives
// every client's first byte and end, when the link got each blob's request, sent its head and its last byte, and
// the first and last of each event in the frontend. Medians over the blobs. The link runs in this process (its CPU is not measured).
// `--memory`: the frontend's memory sampled inside it (bench/lib/memory-preload.js) at its first sample, before the
// pull and at its peak, until 3 s after the pull; `--memory-timeline=<ms>` prints a sample every <ms>.
// `--node-arg=<flag>`: a node flag for the frontend (repeatable).
const os = require('node:os');
const path = require('node:path');
const { readFile } = require('node:fs/promises');
const { Connection } = require('./lib/http-client.js');
const { tempDir } = require('@pullthrough/test-support');
const { MiB, pushRandomImage, sixtyLayerSizes } = require('./lib/fixtures.js');
const { get, pullImage, MANIFEST_ACCEPT } = require('./lib/pull-client.js');
const { startPullthrough, startPipeProxy, startVerifyingProxy, startUpstreamAndRedis, redisCommandCalls } = require('./lib/servers.js');
const { createShapingServer } = require('./lib/link-shaper.js');
const { median } = require('./lib/stats.js');
const { warmUp } = require('./lib/warm-up.js');
const { flagValue, runScript, stopAll } = require('./lib/script.js');
const nowMs = () => performance.timeOrigin + performance.now();
// performance.now() and process.hrtime (CLOCK_MONOTONIC, the .cpuprofile's clock) differ by a constant.
const monoOffsetUs = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');

/** Pull `image` from `base`, 3 blobs at a time (the bench's client: bench/lib/http-client.js); per blob: its digest and the client's times (ms since its request; head: its first body byte). */
async function timedPull(base, image, linkSeen) {
  const connections = Array.from({ length: 3 }, () => new Connection(base, { timeoutMs: 300_000 }));
  const started = nowMs();
  try {
    const manifest = await get(connections[0], `/v2/${image.repository}/manifests/${image.tag}`, { headers: { accept: MANIFEST_ACCEPT }, keep: true });
    const doc = JSON.parse(manifest.body.toString('utf8'));
    const manifestMs = nowMs() - started;
    let firstByteAt;
    const blobs = [doc.config, ...doc.layers];
    const rows = [];
    let next = 0;
    const worker = async (connection) => {
      while (next < blobs.length) {
        const blob = blobs[next++];
        const sent = nowMs();
        let head;
        let bytes = 0;
        const r = await connection.get(`/v2/${image.repository}/blobs/${blob.digest}`, {}, (piece) => {
          head ??= nowMs() - sent;
          bytes += piece.length;
          if (piece.length > 0) firstByteAt ??= nowMs();
        });
        if (r.status !== 200 || bytes !== blob.size) throw new Error(`blob ${blob.digest}: HTTP ${r.status}, ${bytes} of ${blob.size} bytes`);
        const seen = linkSeen.get(blob.digest.slice(7, 19)) ?? {};
        rows.push({ key: blob.digest.slice(7, 19), sent, head, total: nowMs() - sent, atLink: seen.in - sent, linkHead: seen.head - sent, done: nowMs() });
      }
    };
    await Promise.all(connections.map(worker));
    return { ms: nowMs() - started, manifestMs, ttfbMs: firstByteAt - started, started, rows };
  } finally {
    for (const connection of connections) connection.close();
  }
}

/** The frontend's timeline file: per digest key its first time of each event (and, in `last`, its last); the loop samples. */
async function readTimeline(file) {
  const byKey = new Map();
  const last = new Map();
  const loop = [];
  for (const line of (await readFile(file, 'utf8').catch(() => '')).split('\n')) {
    const [at, key, ...rest] = line.split(' ');
    if (!key) continue;
    if (key === 'loop') loop.push({ at: Number(at), elu: Number(rest[0]), mean: Number(rest[1]), p99: Number(rest[2]), max: Number(rest[3]) });
    else {
      const events = byKey.get(key) ?? {};
      events[rest[0]] ??= Number(at);
      byKey.set(key, events);
      last.set(key, { ...last.get(key), [rest[0]]: Number(at) });
    }
  }
  return { byKey, last, loop };
}

/** `--memory`: the frontend's memory (bench/lib/memory-preload.js) just before the pull, at its peak resident set, and each field's own peak. */
async function printMemory(file, from) {
  const samples = (await readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [at, ...fields] = line.split(' ');
      return { at: Number(at), ...Object.fromEntries(fields.map((f) => f.split('=')).map(([k, v]) => [k, Number(v)])) };
    });
  const before = samples.filter((s) => s.at < from).at(-1);
  const during = samples.filter((s) => s.at >= from);
  if (!before || during.length === 0) return console.log('  frontend memory: no samples');
  const peak = during.reduce((a, s) => (s.rss > a.rss ? s : a));
  const show = (s) => Object.entries(s).filter(([k]) => k !== 'at').map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
  console.log(`  frontend memory (MiB) at its first sample: ${show(samples[0])}`);
  console.log(`  frontend memory (MiB) before the pull: ${show(before)}`);
  console.log(`  at its peak RSS (${(peak.at - from).toFixed(0)} ms into the pull): ${show(peak)}`);
  const maxima = Object.fromEntries(Object.keys(peak).filter((k) => k !== 'at').map((k) => [k, Math.max(...during.map((s) => s[k]))]));
  console.log(`  each field's own peak: ${show(maxima)}`);
  const timeline = process.argv.find((a) => a.startsWith('--memory-timeline'));
  if (timeline) {
    const step = Number(timeline.split('=')[1] ?? 100);
    for (let t = 0; t <= during.at(-1).at - from; t += step) {
      const s = during.find((x) => x.at - from >= t);
      if (s) console.log(`    +${t} ms: ${show(s)}`);
    }
  }
}

async function main(argv) {
  const flag = (name, dflt) => flagValue(argv, name, dflt);
  const rounds = Number(flag('rounds', '2'));
  const mib = flag('mib', undefined);
  const work = await tempDir('bench-profile-shaped-');
  const stops = [];
  try {
    const { upstream, redis, stop } = await startUpstreamAndRedis();
    stops.push(stop);
    const seed = `shaped-${Date.now()}`;
    const layerSizes = mib ? Array.from({ length: Number(flag('layers', '1')) }, () => Number(mib) * MiB) : sixtyLayerSizes();
    const clients = Number(flag('clients', '1'));
    const image = await pushRandomImage(upstream.url, work.path, { repository: 'bench/layers', tag: 'v1', layerSizes, seed });
    // `--warm-images=N`: the process warm-up pulls N unrelated 4 KiB images (default 4, like the bench).
    const warmups = [];
    for (let i = 0; i < Number(flag('warm-images', '4')); i++) warmups.push(await pushRandomImage(upstream.url, work.path, { repository: `bench/small${i || ''}`, tag: 'v1', layerSizes: [4096], seed }));
    const pull = (url, small) => pullImage(url, small.repository, small.tag);
    const { server } = createShapingServer(upstream.url, { bytesPerSecond: Number(flag('rate', '100')) * MiB, rttMs: Number(flag('rtt', '20')) });
    // When the link got each blob's request and sent its response head.
    const linkSeen = new Map();
    server.prependListener('request', (req, res) => {
      const key = /sha256:([0-9a-f]{12})/.exec(req.url)?.[1];
      if (!key) return;
      const seen = { in: nowMs() };
      linkSeen.set(key, seen);
      res.on('finish', () => (seen.end = nowMs()));
      const writeHead = res.writeHead;
      res.writeHead = function (...args) {
        seen.head = nowMs();
        return writeHead.apply(this, args);
      };
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    stops.push(() => new Promise((resolve) => server.close(resolve).closeAllConnections()));
    const link = `127.0.0.1:${server.address().port}`;
    console.log(`${layerSizes.length} blobs, ${(layerSizes.reduce((a, b) => a + b, 0) / MiB).toFixed(0)} MiB; link ${flag('rate', '100')} MiB/s, ${flag('rtt', '20')} ms RTT; load ${os.loadavg()[0].toFixed(2)}`);
    const blobLine = (rows) => `atLink ${fmt(median(rows.map((r) => r.atLink)))}, linkHead ${fmt(median(rows.map((r) => r.linkHead)))}, head ${fmt(median(rows.map((r) => r.head)))}, total ${fmt(median(rows.map((r) => r.total)))}`;
    for (let round = 1; round <= rounds; round++) {
      linkSeen.clear();
      const direct = await timedPull(`http://${link}`, image, linkSeen);
      console.log(`round ${round} direct:      ${direct.ms.toFixed(0)} ms (manifest ${fmt(direct.manifestMs)} ms, first blob byte ${fmt(direct.ttfbMs)} ms); per blob (median ms since the client's request): ${blobLine(direct.rows)}`);
      if (argv.includes('--ceilings')) {
        // The same pull through a bare node proxy and through the verifying write-through proxy (bench ceilings), each fetching through the link.
        for (const [name, start] of [['bare node proxy', startPipeProxy], ['verifying proxy', startVerifyingProxy]]) {
          linkSeen.clear();
          const ceiling = await start(`http://${link}`, work.path);
          try {
            await warmUp(pull, ceiling.url, warmups);
            const pulled = await timedPull(ceiling.url, image, linkSeen);
            console.log(`round ${round} ${name.padEnd(12)}: ${pulled.ms.toFixed(0)} ms; per blob (median ms since the client's request): ${blobLine(pulled.rows)}`);
            await ceiling.clear?.();
          } finally {
            await ceiling.stop();
          }
        }
      }
      linkSeen.clear();
      const timeline = path.join(work.path, `timeline-${round}.txt`);
      const memory = argv.includes('--memory') ? path.join(work.path, `memory-${round}.txt`) : undefined;
      const preloads = [...argv.filter((a) => a.startsWith('--node-arg=')).map((a) => a.slice('--node-arg='.length)), ...['timeline-preload.js', ...(memory ? ['memory-preload.js'] : [])].flatMap((name) => ['--require', path.join(__dirname, 'lib', name)])];
      const proxy = await startPullthrough({ redisUrl: redis.url, upstreamHost: link, ...(flag('out', undefined) ? { profileDir: flag('out', undefined) } : {}), nodeArgs: preloads, env: { PULLTHROUGH_TIMELINE_FILE: timeline, ...(memory ? { PULLTHROUGH_MEMORY_FILE: memory } : {}) } });
      let ours;
      try {
        await warmUp(pull, proxy.url, warmups); // process warm-up: cold means cache-cold
        const before = await redisCommandCalls(redis.url);
        const from = nowMs();
        const herd = await Promise.all(Array.from({ length: clients }, () => timedPull(proxy.url, image, linkSeen)));
        ours = { ...herd[0], herd };
        ours.window = { from, to: nowMs() };
        const after = await redisCommandCalls(redis.url);
        ours.redis = Object.entries(after).map(([cmd, n]) => [cmd, n - (before[cmd] ?? 0)]).filter(([cmd, n]) => n > 0 && !['info', 'client', 'hello'].includes(cmd));
        if (memory) await new Promise((r) => setTimeout(r, 3000)); // the background work after the pull, sampled too
        if (flag('out', undefined)) console.log(`  the pull's window in the frontend's .cpuprofile (CLOCK_MONOTONIC µs): ${Math.round((from - performance.timeOrigin) * 1000 + monoOffsetUs)}-${Math.round((ours.window.to - performance.timeOrigin) * 1000 + monoOffsetUs)}`);
      } finally {
        await proxy.stop();
      }
      console.log(`round ${round} pullthrough: ${ours.ms.toFixed(0)} ms (manifest ${fmt(ours.manifestMs)} ms, first blob byte ${fmt(ours.ttfbMs)} ms); per blob (median ms since the client's request): ${blobLine(ours.rows)}`);
      const { byKey, last, loop } = await readTimeline(timeline);
      if (memory) await printMemory(memory, ours.window.from);
      if (clients > 1) {
        const q = (xs) => `${fmt(Math.min(...xs))}/${fmt(median(xs))}/${fmt(Math.max(...xs))}`;
        const since = (t) => t - ours.window.from;
        const keys = [`manifest:${image.repository}`, ...ours.rows.map((r) => r.key)];
        const firstLast = (event) => keys.map((k) => `${fmt(since(byKey.get(k)?.[event]))}..${fmt(since(last.get(k)?.[event]))}`).join(' ');
        console.log(`  herd of ${clients} (ms since the herd's start, min/median/max over the clients): manifest ${q(ours.herd.map((h) => h.started + h.manifestMs - ours.window.from))}, first blob byte ${q(ours.herd.map((h) => h.started + h.ttfbMs - ours.window.from))}, done ${q(ours.herd.map((h) => h.started + h.ms - ours.window.from))}`);
        console.log(`  the link (ms since the herd's start, each blob: request in / response head / last byte sent): ${ours.rows.map((r) => linkSeen.get(r.key)).map((seen) => `${fmt(since(seen?.in))}/${fmt(since(seen?.head))}/${fmt(since(seen?.end))}`).join(' ')}`);
        for (const event of ['in', 'upstream-create', 'upstream-headers', 'head-out', 'end-called']) console.log(`  frontend ${event} (first..last, ms since the herd's start; manifest, then each blob): ${firstLast(event)}`);
      }
      const at = (r, event) => (event === 'client' ? r.sent : event === 'client-done' ? r.done : event === 'link' ? r.sent + r.atLink : (byKey.get(r.key)?.[event] ?? NaN));
      const span = (a, b) => median(ours.rows.map((r) => at(r, b) - at(r, a)));
      const during = loop.filter((s) => s.at >= ours.window.from && s.at <= ours.window.to + 500);
      const avg = (k) => during.reduce((a, s) => a + s[k], 0) / Math.max(1, during.length);
      console.log(
        `  frontend per blob (median ms): client's request -> request in ${fmt(span('client', 'in'))}, -> upstream request ${fmt(span('in', 'upstream-create'))}, -> sent ${fmt(span('upstream-create', 'upstream-sent'))}, -> at the link ${fmt(span('upstream-sent', 'link'))}; upstream sent -> its head ${fmt(span('upstream-sent', 'upstream-headers'))}, upstream head -> response head ${fmt(span('upstream-headers', 'head-out'))}; client has the last byte -> response end() ${fmt(span('client-done', 'end-called'))}`,
      );
      const manifest = byKey.get(`manifest:${image.repository}`) ?? {};
      console.log(`  frontend, the manifest (ms since the pull's start): ${['in', 'upstream-create', 'upstream-sent', 'upstream-headers', 'end-called'].map((e) => `${e} ${fmt(manifest[e] - ours.started)}`).join(', ')}`);
      console.log(`  redis commands during the pull (every process), per blob: ${ours.redis.map(([cmd, n]) => `${cmd} ${(n / ours.rows.length).toFixed(2)}`).join(', ')}`);
      console.log(`  frontend event loop during the pull: utilization ${avg('elu').toFixed(2)}, delay mean ${avg('mean').toFixed(1)} ms, p99 ${avg('p99').toFixed(1)} ms, max ${Math.max(0, ...during.map((s) => s.max)).toFixed(1)} ms`);
    }
  } finally {
    await stopAll(stops);
    await work.remove();
  }
}

runScript(main);
