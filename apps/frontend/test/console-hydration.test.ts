import type { KeyVaultEmulator } from '@pullthrough/test-support';
import type { Browser } from 'playwright-core';
import { ADMIN_TOKEN, putRule, type Cache, type Upstream } from './harness.js';
import { startVaultHydrationStack, type VaultHydrationStack } from './vault-hydration-stack.js';
import { launchBrowser, openConsole, screenshot, signIn } from './console-browser.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

// The console's credential-set, hydration and webhook pages in a real browser (Debian's chromium via
// playwright-core) against the real frontend and the built hydrator as its own process (real
// redis-server, a real docker-registry upstream, a Key Vault emulator that goes down).

let stack: VaultHydrationStack;
let upstream: Upstream;
let cache: Cache;
let vault: KeyVaultEmulator;
let receiver: WebhookReceiver;
let browser: Browser;

const api = async (path: string, init: RequestInit = {}) => fetch(`${cache.adminUrl}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

beforeAll(async () => {
  stack = await startVaultHydrationStack('console-kv-cert-');
  ({ upstream, cache, vault } = stack);
  receiver = await startReceiver();
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await stack?.stop();
});

test('verify on a credential set whose vault is down shows the failing step and its message', async () => {
  vault.setSecret('hub-user', 'someone');
  vault.setSecret('hub-password', 'some-password-0123');
  const created = await api('/credential-sets/vault-login', {
    method: 'PUT',
    body: JSON.stringify({ loginServer: upstream.proxy.host, authCredentials: [{ usernameSecretIdentifier: vault.secretUri('hub-user'), passwordSecretIdentifier: vault.secretUri('hub-password') }] }),
  });
  expect(created.status).toBe(201);
  await vault.stop();

  const { page, errors } = await openConsole(browser, cache.adminUrl);
  await signIn(page, ADMIN_TOKEN);
  await page.getByRole('link', { name: 'Credential sets' }).click();
  const card = page.getByRole('article', { name: /vault-login/ });
  await card.waitFor();
  expect(await card.textContent()).toContain('not checked yet');
  // References are shown (never values).
  expect(await card.textContent()).toContain(vault.secretUri('hub-password'));
  await card.getByRole('button', { name: 'Verify vault-login' }).click();
  const steps = card.getByRole('list', { name: 'Verify vault-login steps' });
  await steps.waitFor();
  // The set's health, reloaded after verify, says what verify found.
  await card.getByRole('heading', { name: /vault-login Unhealthy/ }).waitFor();
  expect(await card.textContent()).toMatch(/Last errorcredential-lookup .*vault unreachable/);
  expect(await card.textContent()).toContain('Verify vault-login: failed at secrets-readable');
  const first = steps.getByRole('listitem').first();
  expect(await first.textContent()).toMatch(/^secrets-readable failed \(credential-lookup\) .*vault unreachable/);
  const api_ = (await (await api('/credential-sets/vault-login')).json()) as { credentialHealth: { status: string; errorCode: string } };
  expect(api_.credentialHealth).toMatchObject({ status: 'Unhealthy', errorCode: 'credential-lookup' });
  await screenshot(page, 'credential-sets');
  expect(errors).toEqual([]);
  await page.context().close();
}, 45_000);

test('a prefetch from the hydration page is watched live until it reaches hydrated', async () => {
  const f = upstream.fixtures.multiLayer;
  expect((await putRule(cache, { name: 'hydrate-rule', sourceRepository: `${upstream.proxy.host}/fixtures/*`, targetRepository: 'chy/*', platforms: 'all' })).status).toBe(201);
  const { page, errors } = await openConsole(browser, cache.adminUrl);
  await signIn(page, ADMIN_TOKEN);
  await page.getByRole('link', { name: 'Hydration' }).click();

  // Before: never enqueued.
  await page.locator('#hy-repository').fill('chy/multilayer');
  await page.getByLabel('Tag or digest').fill('v1');
  await page.getByRole('button', { name: 'Look up' }).click();
  await page.locator('.hydration .badge').filter({ hasText: 'unknown' }).waitFor();

  upstream.proxy.delayMs = 100;
  try {
    await page.getByLabel('Cache rule').fill('hydrate-rule');
    await page.locator('#pf-repository').fill('chy/multilayer');
    await page.getByLabel('Tags or digests').fill('v1');
    await page.getByRole('button', { name: 'Prefetch' }).click();
    await page.getByRole('status').filter({ hasText: `v1: queued (${f.digest})` }).waitFor();
    await page.locator('.hydration .badge').filter({ hasText: 'hydrated' }).waitFor({ timeout: 60_000 });
  } finally {
    upstream.proxy.delayMs = 0;
  }
  const view = page.locator('.hydration');
  const text = (await view.textContent()) ?? '';
  expect(text).toContain(`${f.blobs.length}/${f.blobs.length} blobs, ${f.blobs.reduce((n, b) => n + b.size, 0)} bytes`);
  expect(text).toContain(f.digest);
  expect(await page.locator('#hydration-progress').getAttribute('value')).toBe(String(f.blobs.length));
  expect(await (await api('/hydrations?repository=chy/multilayer&reference=v1')).json()).toMatchObject({ state: 'hydrated', digest: f.digest });
  await screenshot(page, 'hydration');
  expect(errors).toEqual([]);
  await page.context().close();
}, 90_000);

test('webhooks: ping from the console, then the delivery log shows the hydrator delivered it', async () => {
  const put = await api('/webhooks/console-hook', { method: 'PUT', body: JSON.stringify({ serviceUri: receiver.url, actions: ['cache.hydrated'], secret: 'a-secret-of-16-chars-or-more' }) });
  expect(put.status).toBe(201);
  const { page, errors } = await openConsole(browser, cache.adminUrl);
  await signIn(page, ADMIN_TOKEN);
  await page.getByRole('link', { name: 'Webhooks' }).click();
  const card = page.getByRole('article', { name: /console-hook/ });
  await card.waitFor();
  expect(await card.textContent()).toContain(receiver.url);
  expect(await card.textContent()).not.toContain('a-secret-of-16-chars-or-more');
  await card.getByRole('button', { name: 'Ping console-hook' }).click();
  await card.getByRole('status').filter({ hasText: 'Ping queued for console-hook' }).waitFor();
  // The hydrator delivers it; the log shows it once it has.
  const deadline = Date.now() + 30_000;
  for (;;) {
    await card.getByRole('button', { name: 'Delivery log of console-hook' }).click();
    const rows = card.getByRole('table', { name: 'Deliveries of console-hook, newest first' }).getByRole('row');
    if ((await rows.count()) > 1 && /ok \(200\)/.test((await rows.nth(1).textContent()) ?? '')) break;
    if (Date.now() > deadline) throw new Error(`no delivery shown; the receiver got ${receiver.received.length}`);
    await page.waitForTimeout(500);
  }
  expect(receiver.received.length).toBeGreaterThanOrEqual(1);
  await screenshot(page, 'webhooks');
  expect(errors).toEqual([]);
  await page.context().close();
}, 60_000);
