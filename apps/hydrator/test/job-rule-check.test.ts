import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CACHE_RULES_KIND } from '@pullthrough/cache-rules';
import { CREDENTIAL_SETS_KIND } from '@pullthrough/credentials';
import { EgressPolicy } from '@pullthrough/egress';
import { enqueueHydration, parseHydrationFailure, type HydrationJobInput } from '@pullthrough/hydration-jobs';
import { startRedis, waitUntil, type RedisServer } from '@pullthrough/test-support';
import { WebhookStore, type WebhookEvent } from '@pullthrough/webhooks';
import { jobFor, startHydratorEnv, startUpstream, storeRuleFor, type HydratorEnv, type Upstream } from './harness.js';

// Every hydration job is checked against the rules as stored when it runs: a job whose rule is gone,
// or whose rule now gives its repository another upstream or credential set, is refused for good
// (no upstream request, JOB_RULE_MISMATCH [rule-config], one cache.hydration_failed event).

let redis: RedisServer;
let upstream: Upstream;
let env: HydratorEnv;
const events: WebhookEvent[] = [];
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    events.push(JSON.parse(body) as WebhookEvent);
    res.end();
  });
});

beforeAll(async () => {
  redis = await startRedis();
  upstream = await startUpstream();
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  env = await startHydratorEnv(redis, upstream, { attempts: 3, backoffMs: 50 }, { PULLTHROUGH_WEBHOOK_ALLOW_PRIVATE: 'true' });
  await new WebhookStore(env.store, new EgressPolicy({ allow: '127.0.0.1' })).put('rule-check-hook', {
    serviceUri: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`,
    actions: ['cache.hydration_failed'],
    secret: 'rule-check-secret-0123456789',
  });
}, 120_000);
afterAll(async () => {
  await env?.stop();
  receiver.closeAllConnections();
  await new Promise<void>((r) => receiver.close(() => r()));
  await upstream?.stop();
  await redis?.stop();
});

/** Enqueue without touching the stored rules (the test has arranged them), and wait for the refusal. */
async function refused(input: HydrationJobInput, why: RegExp): Promise<void> {
  const before = upstream.proxy.requests.length;
  const eventsBefore = events.length;
  const { job, error } = await env.settle(await enqueueHydration(env.queue, input));
  expect(error).toBeDefined();
  const failure = parseHydrationFailure(job.failedReason);
  expect(failure).toEqual({ code: 'JOB_RULE_MISMATCH', category: 'rule-config', message: expect.stringMatching(why) });
  expect(job.attemptsMade).toBe(1); // UnrecoverableError: no retry
  expect(upstream.proxy.requests.length).toBe(before); // nothing was fetched
  await waitUntil(async () => events.length > eventsBefore, { what: 'the cache.hydration_failed event', timeoutMs: 15_000 });
  expect(events.at(-1)).toMatchObject({
    action: 'cache.hydration_failed',
    target: { repository: input.downstreamRepository, digest: input.digest },
    failure: { code: 'JOB_RULE_MISMATCH', category: 'rule-config' },
  });
  expect(await env.store.statRepositoryBlob(input.downstreamRepository, input.digest as never)).toBeUndefined();
}

test('a job whose rule no longer exists is refused', async () => {
  await refused(jobFor(upstream, upstream.fixtures.small, 'check/gone'), /cache rule "job-rule-[0-9a-f]+" no longer exists/);
});

test('a job whose rule now maps its repository to another upstream repository is refused', async () => {
  const input = jobFor(upstream, upstream.fixtures.small, 'check/moved');
  await storeRuleFor(env.store, { ...input, upstreamRepository: upstream.fixtures.multiLayer.repository });
  await refused(input, /now maps check\/moved to .*, not /);
});

test('a job naming a credential set its rule does not give is refused (the set comes from the rule, never the job)', async () => {
  await env.store.putControl(CREDENTIAL_SETS_KIND, 'other-registry-set', {
    name: 'other-registry-set',
    loginServer: 'ghcr.io',
    authCredentials: [{ name: 'c', usernameSecretIdentifier: 'env:PULLTHROUGH_SECRET_U', passwordSecretIdentifier: 'env:PULLTHROUGH_SECRET_P' }],
  });
  const input = jobFor(upstream, upstream.fixtures.small, 'check/creds');
  await storeRuleFor(env.store, input); // the rule has no credential set
  await refused({ ...input, credentialSetName: 'other-registry-set' }, /now uses no credential set, not "other-registry-set"/);
});

test('a job whose repository now belongs to another rule is refused', async () => {
  // Enqueued under a wildcard rule; since then a static rule inside it took the repository over.
  const host = upstream.proxy.host;
  await env.store.putControl(CACHE_RULES_KIND, 'wide-owner', { name: 'wide-owner', sourceRepository: `${host}/fixtures/*`, targetRepository: 'owned/*' });
  await env.store.putControl(CACHE_RULES_KIND, 'narrow-owner', { name: 'narrow-owner', sourceRepository: `${host}/fixtures/small`, targetRepository: 'owned/small' });
  const input = { ...jobFor(upstream, upstream.fixtures.small, 'owned/small'), ruleName: 'wide-owner' };
  await refused(input, /owned\/small is now mapped by cache rule "narrow-owner", not "wide-owner"/);
});

test('a job that agrees with its current rule runs', async () => {
  const input = jobFor(upstream, upstream.fixtures.small, 'check/agrees');
  const job = await env.completed(await env.enqueue(input));
  expect(job.returnvalue).toMatchObject({ manifests: 1 });
});

test('a job for a tag outside its rule\'s allow-list is refused', async () => {
  const input = jobFor(upstream, upstream.fixtures.small, 'check/vetted');
  await env.store.putControl(CACHE_RULES_KIND, input.ruleName, {
    name: input.ruleName,
    sourceRepository: `${input.upstreamRegistry}/${input.upstreamRepository}`,
    targetRepository: input.downstreamRepository,
    allow: { tags: ['latest', '>=1.25 <2'] },
  });
  await refused(input, /tag v1 of fixtures\/small is not in the allow-list of cache rule "job-rule-[0-9a-f]+" \(allow\.tags\)/);
});

test('a job naming a registry that is neither its rule\'s source nor a fallback is refused', async () => {
  const input = jobFor(upstream, upstream.fixtures.small, 'check/elsewhere');
  await env.store.putControl(CACHE_RULES_KIND, input.ruleName, {
    name: input.ruleName,
    sourceRepository: `127.0.0.1:1/${input.upstreamRepository}`,
    targetRepository: input.downstreamRepository,
    fallbackRegistries: ['127.0.0.1:2'],
  });
  await refused(input, /now maps check\/elsewhere to 127\.0\.0\.1:1\/fixtures\/small or 127\.0\.0\.1:2\/fixtures\/small, not /);
});

test('a job served by a fallback registry runs, the source registry being unreachable', async () => {
  // The pull was served by the rule's fallback (the fixture upstream); the source is a closed port.
  const input = jobFor(upstream, upstream.fixtures.small, 'check/fallback');
  await env.store.putControl(CACHE_RULES_KIND, input.ruleName, {
    name: input.ruleName,
    sourceRepository: `127.0.0.1:1/${input.upstreamRepository}`,
    targetRepository: input.downstreamRepository,
    fallbackRegistries: [upstream.proxy.host],
  });
  const before = upstream.proxy.count({ kind: 'manifest', method: 'GET', reference: input.digest });
  // Enqueued as is (env.enqueue would store a plain rule for the job first).
  const { job, error } = await env.settle(await enqueueHydration(env.queue, input));
  expect(error).toBeUndefined();
  expect(job.returnvalue).toMatchObject({ manifests: 1, blobs: upstream.fixtures.small.blobs.length });
  expect(upstream.proxy.count({ kind: 'manifest', method: 'GET', reference: input.digest })).toBe(before + 1);
});
