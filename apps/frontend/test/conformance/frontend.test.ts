import { tempDir } from '@pullthrough/test-support';
import { ADMIN_TOKEN, startCache, startRedis, writeHtpasswd } from '../harness.js';
import { describeConformance } from './describe-conformance.js';
import type { TargetSpec } from './conformance-target.js';

const USER = 'pusher';
const PASSWORD = 'pusher-password-0123';

/**
 * Our frontend with a local repository namespace no rule maps, and one htpasswd user granted pull,
 * push and delete on it by the access policy (push needs an authenticated user with a push grant).
 * Run twice: with the token protocol (as docker, containerd and skopeo log in) and with Basic on
 * every request. A token is cut to the repositories it names, so an automatic mount (no `from`)
 * finds a source only among those: none here, so it opens an upload (202, conformant); with
 * Basic the user's own grants count and the blob is mounted (201).
 */
const frontend = (preemptiveBasic: boolean): TargetSpec => ({
  supports: {
    referrers: true,
    tagPagination: true,
    tagDelete: 'deletes',
    chunkOrder: true,
    malformedReferenceError: true,
    contentDelete: true,
    crossMount: true,
    automaticCrossmount: preemptiveBasic,
  },
  async start() {
    const redis = await startRedis();
    const dir = await tempDir('conformance-frontend-');
    const stopBoth = async () => {
      await redis.stop();
      await dir.remove();
    };
    try {
      const htpasswd = await writeHtpasswd(dir.path, { [USER]: PASSWORD });
      const cache = await startCache(redis, [], { PULLTHROUGH_HTPASSWD_FILE: htpasswd });
      const policy = await fetch(`${cache.adminUrl}/api/v1/access-policy`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ grants: [{ users: [USER], repositories: ['conformance/*'], actions: ['pull', 'push', 'delete'] }] }),
      });
      if (policy.status !== 200) {
        const text = await policy.text();
        await cache.stop();
        throw new Error(`access policy refused: ${policy.status} ${text}`);
      }
      return {
        baseUrl: cache.dataUrl,
        namespace: 'conformance/main',
        crossmountNamespace: 'conformance/cross',
        credentials: { username: USER, password: PASSWORD },
        preemptiveBasic,
        async stop() {
          await cache.stop();
          await stopBoth();
        },
      };
    } catch (err) {
      await stopBoth();
      throw err;
    }
  },
});

describeConformance('pullthrough frontend, local repository, token protocol', frontend(false));
describeConformance('pullthrough frontend, local repository, Basic on every request', frontend(true));
