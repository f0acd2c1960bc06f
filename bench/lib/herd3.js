'use strict';
// The `herd3` scenario: the scale-out event the design is for. 3 frontend and 2 hydrator processes
// (test-support's startScaleOut: the built apps, one filesystem store, one Redis prefix) behind
// test-support's counting proxy in front of the shaped link (bench/lib/link-shaper.js); N clients spread over the frontends pull
// one uncached image at once (manifest, then, once every client has it, all blobs together), each
// blob timed and verified (test-support's timedPull). Reports all clients done, the leader's and the
// followers' time to first byte per blob, and upstream GETs per blob.
const fs = require('node:fs/promises');
const path = require('node:path');
const { startCountingProxy, startScaleOut, timedPull, barrier, herdTimings, waitUntil } = require('@pullthrough/test-support');

/**
 * One round on a fresh deployment. `image`: a pushed bench image (repository `bench/<name>`, tag);
 * `upstreamUrl`: the shaped link in front of the upstream. The image's hydration job starts (prefetch) once a fifth of its
 * biggest blob has come from the upstream, so the hydrators join the running fetches, as in the test.
 */
async function herd3Round({ upstreamUrl, redisUrl, image, warmup, clients, keepLogsIn }) {
  const proxy = await startCountingProxy(upstreamUrl);
  let scale;
  let anomaly = false;
  try {
    scale = await startScaleOut({
      redisUrl,
      insecureUpstreams: [proxy.host],
      frontends: 3,
      hydrators: 2,
      env: { PULLTHROUGH_CLIENT_MISS_RATE: '0' },
      frontendEnv: { PULLTHROUGH_HYDRATION_DELAY_MS: '600000' },
    });
    const admin = (f, path, body, method = 'PUT') =>
      fetch(`${f.adminUrl}/api/v1${path}`, { method, headers: { authorization: `Bearer ${scale.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const created = await admin(scale.frontends[0], '/cache-rules/bench', { sourceRepository: `${proxy.host}/bench/*`, targetRepository: 'bench/*' });
    if (created.status !== 201) throw new Error(`herd3: creating the rule: HTTP ${created.status} ${await created.text()}`);
    // Every frontend knows the rule (pub/sub) and is warm (JIT, pools): each pulls a small unrelated image.
    for (const f of scale.frontends) {
      await waitUntil(async () => (await fetch(`${f.dataUrl}/v2/bench/none/manifests/v1`)).status === 404, { what: `frontend ${f.index} to know the rule`, timeoutMs: 15_000 });
      const warm = await timedPull(f.dataUrl, warmup.repository, warmup.tag);
      if (!warm.blobs.every((b) => b.verified)) throw new Error('herd3: warm-up pull failed');
    }
    proxy.reset();

    const met = barrier(clients);
    const t0 = Date.now();
    const herd = Promise.all(
      Array.from({ length: clients }, (_, i) => timedPull(scale.frontends[i % 3].dataUrl, image.repository, image.tag, { beforeBlobs: () => met.wait() })),
    );
    const biggest = image.blobs.reduce((x, y) => (y.size > x.size ? y : x));
    const prefetch = waitUntil(async () => (proxy.requests.find((r) => r.kind === 'blob' && r.method === 'GET' && r.reference === biggest.digest)?.bytes ?? 0) >= biggest.size / 5, {
      what: 'herd3: the biggest blob to be a fifth through',
      timeoutMs: 120_000,
      intervalMs: 20,
    }).then(() => admin(scale.frontends[2], '/cache-rules/bench/prefetch', { repository: image.repository, references: [image.tag] }, 'POST'));
    prefetch.catch(() => undefined);
    const pulls = await herd;
    const wallMs = Date.now() - t0;
    const prefetched = await prefetch;
    if (prefetched.status !== 202) throw new Error(`herd3: prefetch: HTTP ${prefetched.status} ${await prefetched.text()}`);
    const failed = pulls.flatMap((p) => p.blobs.filter((b) => !b.verified));
    if (failed.length) throw new Error(`herd3: ${failed.length} blob GETs did not verify, e.g. ${JSON.stringify(failed[0])}`);
    const gets = proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET');
    const perBlob = image.blobs.map((b) => gets.filter((r) => r.reference === b.digest).length);
    anomaly = perBlob.some((n) => n !== 1);
    const timings = herdTimings(pulls, gets);
    const followerTtfb = timings.flatMap((t) => t.followers.map((f) => f.ttfbMs)).sort((a, b) => a - b);
    const pct = (p) => followerTtfb[Math.min(followerTtfb.length - 1, Math.floor((p / 100) * followerTtfb.length))];
    const followers = timings.reduce((n, t) => n + t.followers.length, 0);
    const afterEnd = timings.reduce((n, t) => n + t.followers.filter((f) => f.firstByteAt > t.upstreamEndedAt).length, 0);
    return {
      wallMs,
      clientsDone: pulls.length,
      leaderTtfbMs: timings.map((t) => t.leader.ttfbMs).sort((a, b) => a - b)[Math.floor(timings.length / 2)],
      followerTtfbP50Ms: pct(50),
      followerTtfbP95Ms: pct(95),
      getsPerBlob: perBlob,
      getsPerBlobMax: Math.max(...perBlob),
      followersAfterUpstreamEnd: afterEnd / followers,
      blobs: timings.map((t) => t.summary),
    };
  } finally {
    // A round with a second upstream GET keeps every process's log and the upstream requests seen, to show why.
    if (anomaly && scale && keepLogsIn) await keepLogs(keepLogsIn, scale, proxy.requests).catch(() => undefined);
    await scale?.stop();
    await proxy.stop();
  }
}

async function keepLogs(dir, scale, requests) {
  await fs.mkdir(dir, { recursive: true });
  for (const [kind, processes] of [['frontend', scale.frontends], ['hydrator', scale.hydrators]]) {
    for (const p of processes) await fs.copyFile(p.logPath, path.join(dir, `${kind}-${p.index}.log`));
  }
  await fs.writeFile(path.join(dir, 'upstream-requests.json'), JSON.stringify(requests, null, 1));
}

module.exports = { herd3Round };
