import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's chromium (scripts/install-deps.sh installs it). */
export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots of each console page, kept as test artifacts (gitignored). */
export const ARTIFACTS = join(__dirname, '..', 'test-artifacts', 'console');
const CONSOLE_INDEX = join(__dirname, '..', '..', 'console', 'dist', 'index.html');

/** Headless chromium (`--no-sandbox`: the tests run as root). Fails clearly when it or the console build is missing. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run scripts/install-deps.sh (apt-get install chromium)`);
  if (!existsSync(CONSOLE_INDEX)) throw new Error(`${CONSOLE_INDEX} is missing: build first (npx turbo run build)`);
  await mkdir(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/**
 * A fresh page (its own context: its own sessionStorage) that fails the test on a CSP violation or
 * an uncaught page error, which the collected `errors` list shows.
 */
export async function openConsole(browser: Browser, adminUrl: string, viewport = { width: 1200, height: 900 }): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport });
  // Well inside each test's jest timeout, so a broken page fails with the locator it waited for.
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 40[13]|status of 422|status of 409/.test(msg.text())) errors.push(`console: ${msg.text()}`);
  });
  await page.goto(`${adminUrl}/console/`);
  return { page, errors };
}

/** Paste a token into the sign-in form and submit it. */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel('Admin or OIDC bearer token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}
