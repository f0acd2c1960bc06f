'use strict';
// The `herd3` scenario: the scale-out event the design is for. 3 frontend and 2 hydrator processes
// (test-support's startScaleOut: the built apps, one filesystem store, one Redis prefix) behind a
// bandwidth-limited counting proxy in front of the upstream; N clients spread over the frontends pull
// one uncached image at once (manifest, then, once every client has it, all blobs together), each
// blob timed and verified (test-support's timedPull). Reports all clients done, the leader's and the
// followers' time to first byte per blob, and upstream GETs per blob.
const { startCountingProxy, startScaleOut, timedPull, barrier, herdTimings, waitUntil } = require('@pullthrough/test-support');

/**
 * One round on a fresh deployment. `image`: a pushed bench image (repository `bench/<name>`, tag);
 * `bytesPerSecond`: the upstream link; `hydrationDelayMs`: when the hydration job of the first
 * manifest pull starts (during the blobs' fetch: it joins the same leases).
 */
async function herd3Round({ upstreamUrl, redisUrl, image, warmup, clients, bytesPerSecond, hydrationDelayMs = 2000 }) {
  const proxy = await startCountingProxy(upstreamUrl);
  let scale;
  try {
    scale = await startScaleOut({
      redisUrl,
      insecureUpstreams: [proxy.host],
      frontends: 3,
      hydrators: 2,
      env: { PULLTHROUGH_CLIENT_MISS_RATE: '0' },
      frontendEnv: { PULLTHROUGH_HYDRATION_DELAY_MS: String(hydrationDelayMs) },
    });
    const admin = (f, path, body) =>
      fetch(`${f.adminUrl}/api/v1${path}`, { method: 'PUT', headers: { authorization: `Bearer ${scale.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const created = await admin(scale.frontends[0], '/cache-rules/bench', { sourceRepository: `${proxy.host}/bench/*`, targetRepository: 'bench/*' });
    if (created.status !== 201) throw new Error(`herd3: creating the rule: HTTP ${created.status} ${await created.text()}`);
    // Every frontend knows the rule (pub/sub) and is warm (JIT, pools): each pulls a small unrelated image.
    for (const f of scale.frontends) {
      await waitUntil(async () => (await fetch(`${f.dataUrl}/v2/bench/none/manifests/v1`)).status === 404, { what: `frontend ${f.index} to know the rule`, timeoutMs: 15_000 });
      const warm = await timedPull(f.dataUrl, warmup.repository, warmup.tag);
      if (!warm.blobs.every((b) => b.verified)) throw new Error('herd3: warm-up pull failed');
    }
    proxy.bytesPerSecond = bytesPerSecond;
    proxy.reset();

    const met = barrier(clients);
    const t0 = Date.now();
    const pulls = await Promise.all(
      Array.from({ length: clients }, (_, i) => timedPull(scale.frontends[i % 3].dataUrl, image.repository, image.tag, { beforeBlobs: () => met.wait() })),
    );
    const wallMs = Date.now() - t0;
    const failed = pulls.flatMap((p) => p.blobs.filter((b) => !b.verified));
    if (failed.length) throw new Error(`herd3: ${failed.length} blob GETs did not verify, e.g. ${JSON.stringify(failed[0])}`);
    const gets = proxy.requests.filter((r) => r.kind === 'blob' && r.method === 'GET');
    const perBlob = image.blobs.map((b) => gets.filter((r) => r.reference === b.digest).length);
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
    await scale?.stop();
    await proxy.stop();
  }
}

module.exports = { herd3Round };
