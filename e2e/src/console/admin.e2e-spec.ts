import type { Browser, Page } from 'playwright-core';
import type { TestStack } from '@tm/testing';
import { admin, consoleSystem, type ConsoleSystem, ConsoleTab, keyFor, TEST_ADMIN_TOKEN } from './browser';

/**
 * The resolver's key cache (apps/resolver/src/config.ts, AUTH_CACHE_TTL_MS; the test stack keeps the
 * default): a revoked key's watch stream ends within it. The console also asks whoami again every 15 s.
 */
const AUTH_CACHE_TTL_MS = 5_000;
/** How long a revoked key's tab may take to be signed out: the cache, a watch reconnect, and slack for a loaded machine. */
const SIGN_OUT_WITHIN_MS = 30_000;

/** The audit table's body rows, as text (the header row has no cell of data). */
async function auditRows(page: Page): Promise<string[]> {
  const rows = page.getByRole('table').getByRole('row');
  const texts = await rows.allInnerTexts();
  return texts.slice(1);
}

/** Polls `check` until it holds or the deadline passes (no sleeps that force an order). */
async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * The console's admin pages in a real browser against the whole system: API keys (the secret shown
 * once, copied, gone; per-field refusals; revoke, which signs a tab using the key out), and the
 * audit log (what those did, filtered; the 403 in words for a key without audit:read).
 */
describe('console: keys and audit (chromium, the whole system)', () => {
  let stack: TestStack;
  let system: ConsoleSystem;
  let consoleUrl: string;
  let browser: Browser;
  let reader: string;

  beforeAll(async () => {
    system = await consoleSystem();
    ({ stack, consoleUrl, browser } = system);
    expect((await admin(stack, 'POST', '/v1/tenants', { slug: 'acme', displayName: 'Acme' })).status).toBe(201);
    expect((await admin(stack, 'POST', '/v1/tenants', { slug: 'beta' })).status).toBe(201);
    for (const service of ['billing', 'search']) {
      expect((await admin(stack, 'PUT', `/v1/routes/acme/${service}/prod`, { url: `https://${service}.acme.example` })).status).toBe(201);
    }
    reader = await keyFor(stack, { name: 'acme reader', scopes: ['routes:read'], tenant: 'acme' });
    // A write refused with 403 (acme's writer aiming at beta): an audit row to highlight.
    const writer = await keyFor(stack, { name: 'acme writer', scopes: ['routes:read', 'routes:write'], tenant: 'acme' });
    const refused = await fetch(`${stack.app('command-api').url}/v1/routes/beta/web/prod`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'https://web.beta.example' }),
    });
    expect(refused.status).toBe(403);
  }, 240_000);

  afterAll(async () => {
    await system?.stop();
  }, 60_000);

  it('lists keys and creates one: the secret shown once, copied to the clipboard, gone once dismissed', async () => {
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(consoleUrl).origin });
    await tab.goto();
    await tab.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await tab.checkPage('sign-in');

    await tab.signIn(TEST_ADMIN_TOKEN);
    await tab.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Keys' }).click();
    await tab.page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    const table = tab.page.getByRole('table');
    await table.getByRole('rowheader', { name: /acme reader/ }).waitFor();
    const listed = await table.getByRole('rowheader').allInnerTexts();
    // The probers' key (every tenant) and the two of beforeAll.
    expect(listed.map((t) => t.split('\n')[0])).toEqual(expect.arrayContaining(['health-prober', 'acme reader', 'acme writer']));
    expect(await table.getByRole('row', { name: /health-prober/ }).innerText()).toContain('every tenant');
    await tab.checkPage('keys');

    const form = tab.page.getByRole('form', { name: 'Create a key' });
    await form.getByLabel('Name').fill('acme deployer');
    await form.getByLabel('Tenant', { exact: true }).selectOption('acme');
    await form.getByRole('checkbox', { name: /^routes:write/ }).check();
    expect(await form.getByRole('checkbox', { name: /^routes:read/ }).isChecked()).toBe(true);
    await form.getByRole('button', { name: 'Create key' }).click();

    const panel = tab.page.getByRole('region', { name: 'Key acme deployer created' });
    await panel.waitFor();
    expect(await panel.innerText()).toMatch(/shown this once and cannot be shown again/);
    const secret = await panel.getByLabel('Secret of acme deployer').inputValue();
    expect(secret).toMatch(/^tm_/);
    // The secret is a working key, for acme, with the two scopes.
    const whoami = await fetch(`${stack.app('command-api').url}/v1/whoami`, { headers: { authorization: `Bearer ${secret}` } });
    expect(await whoami.json()).toMatchObject({ name: 'acme deployer', tenant: 'acme', scopes: ['routes:read', 'routes:write'] });

    await panel.getByRole('button', { name: 'Copy' }).click();
    await panel.getByRole('status').filter({ hasText: 'Copied to the clipboard.' }).waitFor();
    // (A string: the e2e project has no DOM types.)
    expect(await tab.page.evaluate<string>('navigator.clipboard.readText()')).toBe(secret);
    await tab.checkPage('key-created');
    // The list has the new key already (the secret is not in it).
    await table.getByRole('rowheader', { name: /acme deployer/ }).waitFor();

    await panel.getByRole('button', { name: /hide the secret/ }).click();
    await panel.waitFor({ state: 'detached' });
    await form.waitFor();
    expect(await tab.page.content()).not.toContain(secret);
    // Never stored by the console.
    expect(await tab.page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }))).not.toContain(secret);
    expect(tab.page.url()).not.toContain(secret);
    expect(tab.consoleErrors()).toEqual([]);
    await tab.close();
  }, 120_000);

  it("puts the server's refusals next to the fields: an empty name, a tenant gone meanwhile, admin bound to a tenant", async () => {
    expect((await admin(stack, 'POST', '/v1/tenants', { slug: 'doomed' })).status).toBe(201);
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(TEST_ADMIN_TOKEN);
    await tab.goto('keys');
    const form = tab.page.getByRole('form', { name: 'Create a key' });
    const name = form.getByLabel('Name');
    const tenant = form.getByLabel('Tenant', { exact: true });
    await tenant.locator('option', { hasText: 'doomed' }).waitFor({ state: 'attached' });

    // An empty name: the server's 400 names the field.
    await form.getByRole('button', { name: 'Create key' }).click();
    await form.getByText('name must be 1 to 100 characters long').waitFor();
    expect(await name.getAttribute('aria-invalid')).toBe('true');
    const nameError = await name.getAttribute('aria-describedby');
    expect(await tab.page.locator(`[id="${nameError ?? ''}"]`).innerText()).toBe('name must be 1 to 100 characters long');
    await form.getByRole('alert').filter({ hasText: 'The key was not created' }).waitFor();

    // A tenant deleted after the list was read: 404, shown at the tenant.
    await name.fill('late key');
    await tenant.selectOption('doomed');
    expect((await admin(stack, 'DELETE', '/v1/tenants/doomed')).status).toBe(204);
    await form.getByRole('button', { name: 'Create key' }).click();
    await form.getByText(/tenant doomed does not exist/).waitFor();
    expect(await tenant.getAttribute('aria-invalid')).toBe('true');
    expect(await tab.page.locator(`[id="${(await tenant.getAttribute('aria-describedby')) ?? ''}"]`).innerText()).toMatch(/tenant doomed does not exist/);
    expect(await name.getAttribute('aria-invalid')).toBeNull();
    await tenant.locator('option', { hasText: 'doomed' }).waitFor({ state: 'detached' });

    // admin cannot be bound to a tenant: the 400 names the scopes.
    await tenant.selectOption('acme');
    await form.getByRole('checkbox', { name: /^admin/ }).check();
    await form.getByRole('button', { name: 'Create key' }).click();
    await form.getByText('admin cannot be combined with tenant').waitFor();
    expect(await form.getByRole('checkbox', { name: /^admin/ }).getAttribute('aria-invalid')).toBe('true');

    const keys = (await admin(stack, 'GET', '/v1/api-keys')).json as { items: { name: string }[] };
    expect(keys.items.map((k) => k.name)).not.toContain('late key');
    expect(tab.consoleErrors([400, 404])).toEqual([]);
    await tab.close();
  }, 120_000);

  it('revokes a key after a confirmation naming it; a tab signed in with it is signed out', async () => {
    const doomedKey = await keyFor(stack, { name: 'acme viewer', scopes: ['routes:read'], tenant: 'acme' });
    const viewer = await ConsoleTab.open(browser, consoleUrl);
    await viewer.signIn(doomedKey);
    await viewer.goto('routes');
    await viewer.page.getByRole('heading', { name: 'Routes of acme' }).waitFor();
    await viewer.page.getByTestId('route-list').getByRole('link', { name: 'billing/prod' }).waitFor();
    await viewer.page.getByTestId('watch-status').filter({ hasText: 'connected' }).waitFor();

    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(TEST_ADMIN_TOKEN);
    await tab.goto('keys');
    const row = tab.page.getByRole('row', { name: /acme viewer/ });
    await row.getByRole('button', { name: 'Revoke acme viewer' }).click();
    const dialog = tab.page.getByRole('dialog', { name: 'Revoke key acme viewer?' });
    await dialog.waitFor();
    expect(await dialog.innerText()).toContain('This cannot be undone');
    // Cancel first: nothing happens, and the focus goes back to the button.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await tab.page.evaluate<string | null>("document.activeElement?.getAttribute('aria-label') ?? null")).toBe('Revoke acme viewer');
    expect(await row.innerText()).toContain('active');

    await row.getByRole('button', { name: 'Revoke acme viewer' }).click();
    await dialog.getByRole('button', { name: 'Revoke acme viewer' }).click();
    const revokedAt = Date.now();
    await tab.page.getByRole('status').filter({ hasText: 'Key acme viewer revoked.' }).waitFor();
    await row.getByText(/^revoked/).waitFor();
    expect(await row.getByRole('button').count()).toBe(0);
    // Revoked keys come last, and can be hidden.
    const names = (await tab.page.getByRole('table').getByRole('rowheader').allInnerTexts()).map((t) => t.split('\n')[0]);
    expect(names.indexOf('acme viewer')).toBeGreaterThan(names.indexOf('acme deployer'));
    await tab.page.getByLabel(/Show revoked keys/).uncheck();
    await row.waitFor({ state: 'detached' });
    await tab.page.getByLabel(/Show revoked keys/).check();
    await row.waitFor();

    // The viewer's tab: signed out, with the reason, within the key cache's time (and the console's slack).
    const reason = viewer.page.getByTestId('signed-out-reason');
    await reason.waitFor({ timeout: SIGN_OUT_WITHIN_MS });
    expect(Date.now() - revokedAt).toBeLessThan(SIGN_OUT_WITHIN_MS);
    expect(await reason.innerText()).toMatch(/401/);
    await viewer.page.getByLabel('API key').waitFor();
    expect(await viewer.page.evaluate(() => JSON.stringify({ ...sessionStorage }))).not.toContain(doomedKey);
    expect(AUTH_CACHE_TTL_MS).toBeLessThan(SIGN_OUT_WITHIN_MS);

    expect(viewer.consoleErrors([401])).toEqual([]);
    expect(tab.consoleErrors()).toEqual([]);
    await viewer.close();
    await tab.close();
  }, 120_000);

  it('shows the audit log: key events, a refused write highlighted, filtered by action and time', async () => {
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(TEST_ADMIN_TOKEN);
    await tab.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
    await tab.page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
    await tab.page.getByRole('table').waitFor();
    const rows = await auditRows(tab.page);
    expect(rows.find((r) => r.includes('key-created') && r.includes('key acme deployer created with routes:read, routes:write'))).toBeDefined();
    expect(rows.find((r) => r.includes('key-revoked') && r.includes('key acme viewer revoked'))).toBeDefined();
    const refused = rows.find((r) => r.includes('write-refused'));
    expect(refused).toMatch(/acme writer/);
    expect(refused).toMatch(/tenant beta/);
    // Newest first: the revocation came after the creation.
    expect(rows.findIndex((r) => r.includes('key acme viewer revoked'))).toBeLessThan(rows.findIndex((r) => r.includes('key acme deployer created')));
    // A change set links to its page.
    await tab.page.getByRole('table').getByRole('link', { name: /change set at revision/ }).first().waitFor();
    await tab.checkPage('audit');

    await tab.page.getByLabel('Action').selectOption('key-revoked');
    await tab.page.getByRole('button', { name: 'Apply filters' }).click();
    await tab.page.waitForURL(/[?&]action=key-revoked/);
    await until(
      async () => {
        const texts = await auditRows(tab.page);
        return texts.length > 0 && texts.every((t) => t.includes('key-revoked'));
      },
      15_000,
      'only key-revoked rows',
    );
    expect((await auditRows(tab.page)).some((t) => t.includes('key acme viewer revoked'))).toBe(true);

    // Since a time in the browser's zone: sent as UTC; nothing is that late.
    await tab.page.getByLabel('Since').fill('2099-01-01T00:00:00');
    await tab.page.getByRole('button', { name: 'Apply filters' }).click();
    const expectedSince = await tab.page.evaluate(() => new Date('2099-01-01T00:00:00').toISOString().replace('.000Z', 'Z'));
    await tab.page.waitForURL((url) => url.searchParams.get('since') === expectedSince);
    await tab.page.getByText('No event matches these filters.').waitFor();
    // The filters come back from the URL (a reload keeps them).
    await tab.page.reload();
    await tab.page.getByText('No event matches these filters.').waitFor();
    expect(await tab.page.getByLabel('Action').inputValue()).toBe('key-revoked');
    expect(await tab.page.getByLabel('Since').inputValue()).toMatch(/^2099-01-01T00:00/);
    await tab.page.getByRole('button', { name: 'Clear filters' }).click();
    await tab.page.getByRole('table').waitFor();
    expect(tab.consoleErrors()).toEqual([]);
    await tab.close();
  }, 120_000);

  it('tells a key without audit:read or admin what it lacks, in words', async () => {
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(reader);
    expect(await tab.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).count()).toBe(0);
    await tab.goto('audit');
    const forbidden = tab.page.getByRole('alert').filter({ hasText: 'may not read the audit log (403)' });
    await forbidden.waitFor();
    expect(await forbidden.innerText()).toMatch(/needs the audit:read scope/);
    await tab.checkPage('audit-forbidden');
    await tab.goto('keys');
    await tab.page.getByRole('alert').filter({ hasText: 'Managing API keys needs the admin scope.' }).waitFor();
    expect(tab.consoleErrors([403])).toEqual([]);
    await tab.close();
  }, 120_000);

  it('is accessible on the routes page an admin opens by choosing the tenant', async () => {
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(TEST_ADMIN_TOKEN);
    await tab.goto('routes');
    await tab.page.getByLabel('Tenant').selectOption('acme');
    await tab.page.getByRole('heading', { name: 'Routes of acme' }).waitFor();
    await tab.page.getByTestId('route-list').getByRole('link', { name: 'search/prod' }).waitFor();
    await tab.page.getByTestId('watch-status').filter({ hasText: 'connected' }).waitFor();
    await tab.checkPage('routes');
    expect(tab.consoleErrors()).toEqual([]);
    await tab.close();
  }, 120_000);
});
