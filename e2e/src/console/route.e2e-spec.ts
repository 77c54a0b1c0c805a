import type { Browser, Locator, Page } from 'playwright-core';
import type { TestStack } from '@tm/testing';
import { EndpointServer } from '../endpoint-server';
import { admin, consoleSystem, type ConsoleSystem, ConsoleTab, keyFor } from './browser';

/**
 * A route's page and its history in a real browser against the whole system (two health probers):
 * endpoints with live health as EndpointServers go down and fail open, the policy edited with the
 * API's 400 at its field, a conflicting save resolved, delete and create; versions compared and a
 * rollback confirmed with its diff.
 */
describe('console: a route and its history (chromium, the whole system)', () => {
  const ROUTE = 'shop/cart/prod';
  const PATH = `/v1/routes/${ROUTE}`;
  let stack: TestStack;
  let system: ConsoleSystem;
  let consoleUrl: string;
  let browser: Browser;
  let key: string;
  const alpha = new EndpointServer();
  const beta = new EndpointServer();
  const gamma = new EndpointServer();

  const healthCheck = { type: 'http', path: '/', intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 2 };
  const policy = (alphaWeight: number, betaWeight: number, alphaUrl = alpha.url()) => ({
    endpoints: [
      { id: 'alpha', url: alphaUrl, weight: alphaWeight },
      { id: 'beta', url: beta.url(), weight: betaWeight },
    ],
    healthCheck,
  });

  async function route(): Promise<{ status: number; body: { revision: number; endpoints: { id: string; url: string; weight: number }[] } }> {
    const answer = await admin(stack, 'GET', PATH);
    return { status: answer.status, body: answer.json as { revision: number; endpoints: { id: string; url: string; weight: number }[] } };
  }

  /** A table row by the text of its row header (an endpoint's id, a diff's field). */
  function row(scope: Page | Locator, header: string): Locator {
    const page = 'page' in scope ? scope.page() : scope;
    return scope.getByRole('row').filter({ has: page.getByRole('rowheader', { name: header, exact: true }) });
  }

  async function openRoute(): Promise<ConsoleTab> {
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(key);
    await tab.goto(`routes/${ROUTE}`);
    await tab.page.getByRole('heading', { name: 'Endpoints and health' }).waitFor();
    return tab;
  }

  beforeAll(async () => {
    await Promise.all([alpha.start(), beta.start(), gamma.start()]);
    system = await consoleSystem();
    ({ stack, consoleUrl, browser } = system);
    expect((await admin(stack, 'POST', '/v1/tenants', { slug: 'shop' })).status).toBe(201);
    expect((await admin(stack, 'PUT', PATH, policy(2, 1))).status).toBe(201);
    key = await keyFor(stack, { name: 'shop operator', scopes: ['routes:read', 'routes:write'], tenant: 'shop' });
  }, 240_000);

  afterAll(async () => {
    await system?.stop();
    await Promise.all([alpha.stop(), beta.stop(), gamma.stop()]);
  }, 60_000);

  it('shows each endpoint healthy, then down with the probe error as the probers see it, and fail open loudly, without a reload', async () => {
    const tab = await openRoute();
    const page = tab.page;
    for (const id of ['alpha', 'beta']) await row(page, id).getByText('healthy', { exact: true }).waitFor();
    expect(await row(page, 'alpha').innerText()).toMatch(/since (just now|\d+ s ago)/);
    await tab.checkPage('route');

    await beta.stop();
    await row(page, 'beta').getByText('unhealthy', { exact: true }).waitFor();
    await row(page, 'beta').getByText(/connection refused/).waitFor();
    expect(await row(page, 'alpha').getByText('healthy', { exact: true }).count()).toBe(1);
    expect(await page.getByRole('alert').filter({ hasText: 'Failing open' }).count()).toBe(0);

    alpha.status = 503;
    const banner = page.getByRole('alert').filter({ hasText: 'Failing open' });
    await banner.waitFor();
    expect(await banner.innerText()).toContain('every enabled endpoint is unhealthy');
    await row(page, 'alpha').getByText(/HTTP 503/).waitFor();

    alpha.status = 200;
    await beta.start();
    await banner.waitFor({ state: 'detached' });
    for (const id of ['alpha', 'beta']) await row(page, id).getByText('healthy', { exact: true }).waitFor();
    expect(tab.consoleErrors()).toEqual([]);
    await tab.close();
  }, 120_000);

  it("edits the policy: the API's 400 next to the field it names, then a valid save with its revision and propagation", async () => {
    const before = await route();
    const tab = await openRoute();
    const page = tab.page;
    const weight = page.getByRole('group', { name: 'Endpoint 1', exact: true }).getByLabel('Weight', { exact: true });
    await weight.fill('5000');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const message = page.getByText('weight must be a whole number from 0 to 1000');
    await message.waitFor();
    expect(await weight.getAttribute('aria-invalid')).toBe('true');
    expect((await weight.getAttribute('aria-describedby'))?.split(' ')).toContain(await message.getAttribute('id'));
    expect((await route()).body.revision).toBe(before.body.revision);

    await weight.fill('7');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const saved = page.getByRole('status').filter({ hasText: /Saved: revision \d+/ });
    await saved.waitFor();
    const after = await route();
    expect(after.body.revision).toBeGreaterThan(before.body.revision);
    expect(after.body.endpoints.find((e) => e.id === 'alpha')?.weight).toBe(7);
    expect(await saved.innerText()).toContain(`Saved: revision ${after.body.revision}`);
    await saved.getByRole('link', { name: `Change set ${after.body.revision}` }).waitFor();
    await saved.getByRole('region', { name: `Propagation of revision ${after.body.revision}` }).waitFor();
    expect(await page.getByTestId('route-revision').innerText()).toBe(String(after.body.revision));
    expect(await weight.getAttribute('aria-invalid')).toBe('false');
    expect(tab.consoleErrors([400])).toEqual([]);
    await tab.close();
  }, 120_000);

  it('shows a conflicting save side by side with the current version, and overwrites when asked', async () => {
    const tab = await openRoute();
    const page = tab.page;
    const loaded = await route();
    await page.getByTestId('route-revision').filter({ hasText: String(loaded.body.revision) }).waitFor();
    // Someone else changes the route meanwhile.
    const theirs = await admin(stack, 'PUT', PATH, policy(7, 4));
    expect(theirs.status).toBe(200);
    await page.getByRole('status').filter({ hasText: 'This route changed since it was loaded' }).waitFor();

    await page.getByRole('group', { name: 'Endpoint 1', exact: true }).getByLabel('Weight', { exact: true }).fill('9');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const conflict = page.getByRole('region', { name: 'Someone else changed this route while you edited it' });
    await conflict.waitFor();
    await row(conflict, 'endpoints[id=alpha].weight').waitFor();
    expect(await row(conflict, 'endpoints[id=alpha].weight').innerText()).toMatch(/7\s+9\s+.*differs/);
    expect(await row(conflict, 'endpoints[id=beta].weight').innerText()).toMatch(/4\s+1\s+.*differs/);
    expect(await row(conflict, 'endpoints[id=beta].url').innerText()).toContain('same');
    await tab.checkPage('route-conflict');
    expect((await route()).body.endpoints.map((e) => e.weight)).toEqual([7, 4]);

    await conflict.getByRole('button', { name: 'Keep mine and overwrite' }).click();
    await page.getByRole('status').filter({ hasText: /Saved: revision \d+/ }).waitFor();
    await conflict.waitFor({ state: 'detached' });
    expect((await route()).body.endpoints.map((e) => e.weight)).toEqual([9, 1]);
    expect(tab.consoleErrors([412])).toEqual([]);
    await tab.close();
  }, 120_000);

  it('lists the versions, compares any two field by field, and rolls back after a confirmation that shows the diff', async () => {
    const good = await route();
    // A change to roll back: alpha moved to another server.
    expect((await admin(stack, 'PUT', PATH, policy(9, 1, gamma.url()))).status).toBe(200);
    const moved = await route();
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(key);
    await tab.goto(`routes/${ROUTE}/history`);
    const page = tab.page;
    const versions = page.getByRole('table', { name: /Versions of shop\/cart\/prod/ });
    await row(versions, /* the newest */ `${moved.body.revision} current`).waitFor();
    expect(await versions.getByRole('row').count()).toBeGreaterThanOrEqual(6); // header, create, save, theirs, overwrite, move

    // The default comparison: the newest against the one before.
    await row(page, 'endpoints[id=alpha].url').waitFor();
    expect(await row(page, 'endpoints[id=alpha].url').innerText()).toContain('changed');
    // Any two: the first version against the newest, kept in the URL.
    const first = (await versions.getByRole('rowheader').last().innerText()).trim();
    await page.getByLabel('From', { exact: true }).selectOption(first);
    await page.waitForURL(new RegExp(`from=${first}`));
    await row(page, 'endpoints[id=alpha].weight').waitFor();
    expect(await row(page, 'endpoints[id=alpha].weight').innerText()).toMatch(/2\s+9\s+.*changed/);
    await tab.checkPage('history');

    await row(versions, String(good.body.revision)).getByRole('button', { name: `Roll back to ${good.body.revision}…` }).click();
    const dialog = page.getByRole('dialog', { name: `Roll back shop/cart/prod to revision ${good.body.revision}?` });
    await dialog.waitFor();
    const diff = row(dialog, 'endpoints[id=alpha].url');
    expect(await diff.innerText()).toContain(gamma.url());
    expect(await diff.innerText()).toContain(alpha.url());
    await tab.checkPage('rollback-confirm');
    await dialog.getByRole('button', { name: 'Roll back', exact: true }).click();
    const outcome = page.getByRole('status').filter({ hasText: `Rolled back to revision ${good.body.revision}` });
    await outcome.waitFor();
    await dialog.waitFor({ state: 'hidden' });

    const now = await route();
    expect(now.body.revision).toBeGreaterThan(moved.body.revision);
    expect(now.body.endpoints.find((e) => e.id === 'alpha')?.url).toBe(alpha.url());
    expect(await outcome.innerText()).toContain(`now at revision ${now.body.revision}`);
    await outcome.getByRole('link', { name: `Change set ${now.body.revision}` }).waitFor();
    await outcome.getByRole('region', { name: `Propagation of revision ${now.body.revision}` }).waitFor();
    // The history shows the rollback as the newest version.
    await row(versions, `${now.body.revision} current`).waitFor();
    expect(tab.consoleErrors()).toEqual([]);
    await tab.close();
  }, 120_000);

  it('deletes the route after a confirmation, then creates it again from its page', async () => {
    const tab = await openRoute();
    const page = tab.page;
    await page.getByRole('button', { name: 'Delete route…' }).click();
    const dialog = page.getByRole('dialog', { name: `Delete ${ROUTE}?` });
    await dialog.waitFor();
    // Cancel first: nothing happens.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect((await route()).status).toBe(200);

    await page.getByRole('button', { name: 'Delete route…' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('status').filter({ hasText: /Deleted at revision \d+/ }).waitFor();
    expect((await route()).status).toBe(404);
    await page.getByRole('link', { name: 'Back to the routes of shop' }).waitFor();

    const first = page.getByRole('group', { name: 'Endpoint 1', exact: true });
    await first.getByLabel('URL', { exact: true }).fill(alpha.url());
    await page.getByRole('button', { name: 'Create route' }).click();
    await page.getByRole('status').filter({ hasText: /Created: revision \d+/ }).waitFor();
    const created = await route();
    expect(created.status).toBe(200);
    expect(created.body.endpoints).toMatchObject([{ id: 'default', url: alpha.url() }]);
    await page.getByTestId('route-revision').filter({ hasText: String(created.body.revision) }).waitFor();
    expect(tab.consoleErrors([404])).toEqual([]);
    await tab.close();
  }, 120_000);
});
