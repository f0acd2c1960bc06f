import { checkReadiness, readinessStatusCode, redisCheck, storageCheck, type ReadinessCheck } from './readiness.js';

const up = (name: string, required: boolean): ReadinessCheck => ({ name, required, probe: async () => undefined });
const down = (name: string, required: boolean, message: string): ReadinessCheck => ({ name, required, probe: async () => Promise.reject(new Error(message)) });
const silent = (name: string, required: boolean): ReadinessCheck => ({ name, required, probe: () => new Promise<void>(() => undefined) });

test.each([
  ['every check up', [up('storage', true), up('redis', false)], 'ready', 200],
  ['an optional check down', [up('storage', true), down('redis', false, 'refused')], 'degraded', 200],
  ['a required check down', [down('storage', true, 'EIO'), up('redis', false)], 'not-ready', 503],
])('%s: %s', async (_what, checks, status, code) => {
  const report = await checkReadiness(checks, 500);
  expect(report.status).toBe(status);
  expect(readinessStatusCode(report)).toBe(code);
});

test('a failing check carries its reason; one that does not answer is down at the timeout', async () => {
  const started = Date.now();
  const report = await checkReadiness([down('storage', true, 'EIO: i/o error'), silent('redis', true)], 200);
  expect(Date.now() - started).toBeLessThan(1000);
  expect(report.checks.storage).toMatchObject({ status: 'down', required: true, reason: 'EIO: i/o error' });
  expect(report.checks.redis).toMatchObject({ status: 'down', required: true, reason: 'no answer within 200 ms' });
});

test('stopping is not ready whatever the checks say', async () => {
  const report = await checkReadiness([up('storage', true)], 200, true);
  expect(report).toMatchObject({ status: 'not-ready', stopping: true, checks: { storage: { status: 'up' } } });
});

test('redisCheck: a connection that is not ready fails at once with its state; PONG is up', async () => {
  let pinged = 0;
  const conn = { status: 'reconnecting', ping: async () => (pinged++, 'PONG') };
  await expect(redisCheck(conn, false).probe()).rejects.toThrow('connection is reconnecting');
  expect(pinged).toBe(0);
  conn.status = 'ready';
  await expect(redisCheck(conn, false).probe()).resolves.toBeUndefined();
  expect(pinged).toBe(1);
});

test('storageCheck: a missing document is an answer; a read error is down', async () => {
  await expect(storageCheck({ getControl: async () => undefined }).probe()).resolves.toBeUndefined();
  await expect(storageCheck({ getControl: async () => Promise.reject(new Error('ELOOP')) }).probe()).rejects.toThrow('ELOOP');
});
