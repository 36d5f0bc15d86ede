import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { signUp } from '../helpers/users.js';

// The interactive docs (/api/v1/docs) in a real browser, Debian's Chromium: the page renders under
// its CSP, and "Try it out" with a dev-login token reaches the API that served the page (the
// contract's server is http://localhost:8000, which is not where this test app listens).

/** Where the page's screenshot goes, for a person to look at. */
const SCREENSHOT = path.join(os.tmpdir(), 'perpetua-docs-page.png');

function chromiumBinary(): string {
  for (const candidate of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (fs.existsSync(candidate)) return candidate;
  const which = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  throw new Error('chromium is not installed: this suite opens the docs page in a real browser. Install it with `apt-get install chromium` (.ci/run does).');
}

/**
 * Swagger UI lays out the whole contract (about 560 KB) before the page shows an operation: about
 * 3 s of Chromium's CPU alone, and several times that while the rest of the suite shares the two
 * cores (a CI run timed out at 30 s). Each step may take this long; a step that hangs fails by name.
 */
const STEP_TIMEOUT = 60_000;

let t: TestApp;
let browser: Browser | undefined;
beforeAll(async () => {
  t = await startTestApp();
  browser = await chromium.launch({
    executablePath: chromiumBinary(),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, STEP_TIMEOUT);
afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('the docs page', () => {
  it('renders, and "Try it out" on GET /users/me with a dev-login token answers 200 from this server', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(STEP_TIMEOUT);
    page.setDefaultNavigationTimeout(STEP_TIMEOUT);
    const origin = new URL(t.baseUrl).origin;
    const problems: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()} (${m.location().url})`)));
    page.on('pageerror', (e) => void problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => void problems.push(`failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`));
    page.on('response', (r) => void (r.status() >= 400 && problems.push(`${r.status()}: ${r.request().method()} ${r.url()}`)));
    page.on('request', (r) => {
      const url = new URL(r.url());
      if (url.protocol !== 'data:' && url.origin !== origin) problems.push(`other origin: ${r.method()} ${r.url()}`);
    });

    await page.goto(`${t.baseUrl}/api/v1/docs`);
    const operation = page.locator('#operations-Users-getCurrentUser');
    await operation.waitFor();
    await page.screenshot({ path: SCREENSHOT });
    expect(fs.statSync(SCREENSHOT).size).toBeGreaterThan(10_000);

    const user = await signUp(t);
    await page.locator('button.authorize').first().click();
    const bearer = page.locator('.auth-container').filter({ hasText: 'bearerAuth' });
    await bearer.locator('input').fill(user.token);
    await bearer.locator('button.authorize').click();
    // One Close per security scheme in the dialog (the bearer token and the metrics token): any closes it.
    await page.locator('.modal-ux button.btn-done').first().click();

    await operation.locator('.opblock-summary').first().click();
    await operation.locator('button.try-out__btn').click();
    await operation.locator('button.execute').click();
    const response = operation.locator('.live-responses-table .response').first();
    await response.waitFor();
    expect((await response.locator('.response-col_status').innerText()).trim()).toBe('200');
    expect(await response.locator('.response-col_description').innerText()).toContain(user.email);
    // The request URL Swagger UI shows is this server's.
    expect(await operation.locator('.request-url').innerText()).toContain(`${origin}/api/v1/users/me`);
    // Every server in the page's contract is this origin: the API root, and the root for /metrics.
    const servers = await page.evaluate(() => {
      const spec = (globalThis as unknown as { ui: { specSelectors: { specJson(): { toJS(): { servers: { url: string }[]; paths: Record<string, { servers?: { url: string }[] }> } } } } }).ui.specSelectors.specJson().toJS();
      return { api: spec.servers.map((s) => s.url), metrics: spec.paths['/metrics']?.servers?.map((s) => s.url) };
    });
    expect(servers).toEqual({ api: [`${origin}/api/v1`], metrics: [origin] });
    expect(problems).toEqual([]);
    await page.close();
  }, 3 * STEP_TIMEOUT);
});
