import type { Browser } from 'playwright-core';
import type { TestStack } from '@tm/testing';
import { admin, consoleSystem, type ConsoleSystem, ConsoleTab, keyFor, TEST_ADMIN_TOKEN, tm } from './browser';

/**
 * The console in a real browser (Debian's chromium) against the whole system: signing in, the routes
 * of a tenant live from the watch (a change made by `tm` appears, marked), 10,000 routes in a
 * virtualised list, and the watch's state while the resolver goes away and comes back.
 */
describe('console: sign in and routes (chromium, the whole system)', () => {
  let stack: TestStack;
  let system: ConsoleSystem;
  let consoleUrl: string;
  let browser: Browser;
  let key: string;

  beforeAll(async () => {
    system = await consoleSystem();
    ({ stack, consoleUrl, browser } = system);
    expect((await admin(stack, 'POST', '/v1/tenants', { slug: 'acme', displayName: 'Acme' })).status).toBe(201);
    expect((await admin(stack, 'POST', '/v1/tenants', { slug: 'big' })).status).toBe(201);
    for (const service of ['billing', 'search', 'checkout']) {
      expect((await admin(stack, 'PUT', `/v1/routes/acme/${service}/prod`, { url: `https://${service}.acme.example` })).status).toBe(201);
    }
    key = await keyFor(stack, { name: 'acme operator', scopes: ['routes:read', 'routes:write'], tenant: 'acme' });
  }, 240_000);

  afterAll(async () => {
    await system?.stop();
  }, 60_000);

  it('signs in with a key, shows what it may do (from both APIs), and refuses an unknown key in words', async () => {
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.goto();
    await tab.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await tab.checkPage('sign-in');
    await tab.page.getByLabel('API key').fill('tm_not_a_key_of_this_system_0000');
    await tab.page.getByRole('button', { name: 'Sign in' }).click();
    await tab.page.getByRole('alert').filter({ hasText: 'Sign in again' }).waitFor();

    await tab.signIn(key);
    const identity = tab.page.getByTestId('identity');
    expect(await identity.innerText()).toMatch(/Key acme operator · tenant acme · scopes routes:read, routes:write/);
    await tab.page.getByText('What this key may do').click();
    await tab.page.getByTestId('resolver-whoami').filter({ hasText: 'says the same' }).waitFor();
    expect(await tab.page.locator('.key-panel').innerText()).toContain('routes:write: change routes');
    await tab.checkPage('key-panel');
    // The key is nowhere in the URL, and not in local storage.
    expect(tab.page.url()).not.toContain(key);
    expect(await tab.page.evaluate(() => JSON.stringify({ ...localStorage }))).not.toContain(key);
    // A key bound to a tenant sees its own routes; no tenant picker, no admin pages.
    await tab.page.getByRole('link', { name: 'Routes' }).click();
    await tab.page.getByRole('heading', { name: 'Routes of acme' }).waitFor();
    expect(await tab.page.getByLabel('Tenant').count()).toBe(0);
    expect(await tab.page.getByRole('link', { name: 'Keys' }).count()).toBe(0);
    await tab.page.getByRole('button', { name: 'Sign out' }).click();
    await tab.page.getByRole('heading', { name: 'Sign in' }).waitFor();
    // Signing out forgets the key (what stays in the tab's session storage is the colour scheme).
    expect(await tab.page.evaluate(() => JSON.stringify({ ...sessionStorage }))).not.toContain(key);
    expect(tab.consoleErrors([401])).toEqual([]);
    await tab.close();
  }, 120_000);

  it('shows a change made by tm live, marked, without a reload; searches and filters', async () => {
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(key);
    await tab.goto('routes');
    const list = tab.page.getByTestId('route-list');
    await list.getByRole('link', { name: 'billing/prod' }).waitFor();
    expect(await tab.page.getByTestId('route-count').innerText()).toBe('3 routes');
    await tab.page.getByTestId('watch-status').filter({ hasText: 'connected' }).waitFor();
    await tab.checkPage('routes');

    const put = await tm(stack, key, ['put', 'acme/payments/prod', 'https://payments.acme.example']);
    expect(put).toMatchObject({ code: 0 });
    const row = tab.page.locator('[data-route="acme/payments/prod"]');
    await row.getByText('changed').waitFor();
    expect(await row.innerText()).toContain('https://payments.acme.example');
    expect(await tab.page.getByTestId('route-count').innerText()).toBe('4 routes');
    await tab.checkPage('routes-live-change');

    await tab.page.getByLabel('Search').fill('check');
    await tab.page.getByTestId('route-count').filter({ hasText: '1 of 4 routes' }).waitFor();
    expect(await list.getByRole('listitem').allInnerTexts()).toEqual([expect.stringContaining('checkout/prod')]);
    await tab.page.getByLabel('Search').fill('');
    await tab.page.getByLabel('Show').selectOption('changed');
    await tab.page.getByTestId('route-count').filter({ hasText: '1 of 4 routes' }).waitFor();
    expect(await list.getByRole('listitem').allInnerTexts()).toEqual([expect.stringContaining('payments/prod')]);

    // A deletion made elsewhere leaves the list as it happens.
    expect((await tm(stack, key, ['delete', 'acme/payments/prod'])).code).toBe(0);
    await tab.page.getByTestId('route-count').filter({ hasText: '0 of 3 routes' }).waitFor();
    expect(tab.consoleErrors()).toEqual([]);
    await tab.close();
  }, 120_000);

  it('works from the keyboard: sign in with Enter, skip to the content, open a route with Tab and Enter', async () => {
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.goto();
    const page = tab.page;
    await page.getByLabel('API key').focus();
    await page.keyboard.type(key);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    // The first Tab reaches the skip link, which moves focus to the page's content.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main');
    await page.getByTestId('route-list').getByRole('link', { name: 'billing/prod' }).waitFor();
    // Tab until the first route's link has focus (every control on the way is reachable), then open it.
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate("document.activeElement?.textContent === 'billing/prod'")) === true;
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/console\/routes\/acme\/billing\/prod$/);
    expect(tab.consoleErrors()).toEqual([]);
    await tab.close();
  }, 120_000);

  it('keeps 10,000 routes smooth: a virtualised list that renders only what is on screen', async () => {
    for (let set = 0; set < 10; set++) {
      const changes = Array.from({ length: 1000 }, (_, i) => {
        const n = String(set * 1000 + i).padStart(5, '0');
        return { op: 'put', route: `big/svc-${n}/prod`, body: { url: `https://svc-${n}.big.example` } };
      });
      expect((await admin(stack, 'POST', '/v1/changes', { changes, description: `seed ${set}` })).status).toBe(201);
    }
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(TEST_ADMIN_TOKEN);
    await tab.goto('routes');
    await tab.page.getByLabel('Tenant').selectOption('big');
    await tab.page.getByTestId('route-count').filter({ hasText: '10000 routes' }).waitFor({ timeout: 60_000 });
    const list = tab.page.getByTestId('route-list');
    const rendered = await list.getByRole('listitem').count();
    expect(rendered).toBeGreaterThan(5);
    expect(rendered).toBeLessThan(60);
    // The list says how long it is, to assistive technology too.
    expect(await list.getByRole('list').getAttribute('aria-label')).toBe('10000 routes');
    await list.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    await list.getByRole('link', { name: 'svc-09999/prod' }).waitFor();
    expect(await list.getByRole('listitem').count()).toBeLessThan(60);
    await tab.page.getByLabel('Search').fill('svc-04242');
    await tab.page.getByTestId('route-count').filter({ hasText: '1 of 10000 routes' }).waitFor();
    await list.getByRole('link', { name: 'svc-04242/prod' }).waitFor();
    expect(tab.consoleErrors()).toEqual([]);
    await tab.close();
  }, 240_000);

  it('always shows the watch: reconnecting while the resolver is gone, connected again when it is back', async () => {
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(key);
    await tab.goto('routes');
    const status = tab.page.getByTestId('watch-status');
    await status.filter({ hasText: 'connected' }).waitFor();
    await stack.app('resolver').stop();
    await status.filter({ hasText: 'reconnecting' }).waitFor({ timeout: 30_000 });
    await tab.checkPage('watch-reconnecting');
    await stack.restart('resolver');
    await status.filter({ hasText: 'connected' }).waitFor({ timeout: 60_000 });
    // The reconnects' refused connections are the browser's network errors, not the page's.
    expect(tab.consoleErrors().filter((line) => !line.includes('net::ERR_CONNECTION_REFUSED'))).toEqual([]);
    await tab.close();
  }, 180_000);
});
