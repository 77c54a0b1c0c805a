import type { Browser } from 'playwright-core';
import type { TestStack } from '@tm/testing';
import { admin, consoleSystem, type ConsoleSystem, ConsoleTab, keyFor } from './browser';

interface ChangeSetAnswer {
  revision: number;
  changes: { route: string; op: string; result: string; revision: number | null }[];
}

/**
 * Change sets, revert and propagation in the console, in a real browser against the whole system
 * (the relay and the worker run, so a revision reaches in sync): a set's routes, description and
 * author; revert after a confirmation, then its propagation live until in sync; a revert refused
 * with the conflicting route named and nothing applied; a revision's propagation page, an invalid
 * revision and one beyond the store.
 */
describe('console: change sets, revert and propagation (chromium, the whole system)', () => {
  let stack: TestStack;
  let system: ConsoleSystem;
  let consoleUrl: string;
  let browser: Browser;
  /** The console's key: shop's operator (reads, writes, its audit log). */
  let operator: string;
  /** The author of the change sets: a key with a name the page must show. */
  let releaseBot: string;

  beforeAll(async () => {
    system = await consoleSystem();
    ({ stack, consoleUrl, browser } = system);
    expect((await admin(stack, 'POST', '/v1/tenants', { slug: 'shop' })).status).toBe(201);
    operator = await keyFor(stack, { name: 'shop operator', scopes: ['routes:read', 'routes:write', 'audit:read'], tenant: 'shop' });
    releaseBot = await keyFor(stack, { name: 'release-bot', scopes: ['routes:read', 'routes:write'], tenant: 'shop' });
  }, 240_000);

  afterAll(async () => {
    await system?.stop();
  }, 60_000);

  /** A change set written by release-bot. */
  async function changeSet(changes: unknown[], description: string): Promise<ChangeSetAnswer> {
    const res = await fetch(`${stack.app('command-api').url}/v1/changes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${releaseBot}`, 'content-type': 'application/json' },
      body: JSON.stringify({ changes, description }),
    });
    const body = (await res.json()) as ChangeSetAnswer;
    expect({ status: res.status, body }).toMatchObject({ status: 201, body: { revision: expect.any(Number) } });
    return body;
  }

  async function route(key: string): Promise<{ status: number; url?: string; revision?: number }> {
    const { status, json } = await admin(stack, 'GET', `/v1/routes/${key}`);
    const body = json as { url?: string; revision?: number };
    return status === 200 ? { status, url: body.url, revision: body.revision } : { status };
  }

  it('shows a change set (its routes, description and author), reverts it after a confirmation, and follows the revert until in sync', async () => {
    expect((await admin(stack, 'PUT', '/v1/routes/shop/cart/prod', { url: 'https://cart-old.shop.example' })).status).toBe(201);
    const set = await changeSet(
      [
        { op: 'put', route: 'shop/cart/prod', body: { url: 'https://cart-new.shop.example' } },
        {
          op: 'put',
          route: 'shop/pay/prod',
          body: { endpoints: [{ id: 'blue', url: 'https://blue.pay.shop.example' }, { id: 'green', url: 'https://green.pay.shop.example', weight: 0 }] },
        },
        { op: 'put', route: 'shop/search/prod', body: { url: 'https://search.shop.example' } },
      ],
      'Move checkout to the new cluster',
    );
    const R = set.revision;

    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(operator);
    await tab.goto(`changes/${R}`);
    const page = tab.page;
    await page.getByRole('heading', { name: `Change set at revision ${R}` }).waitFor();
    const changes = page.getByRole('table', { name: '3 routes changed' });
    await changes.waitFor();
    expect(await changes.getByRole('rowheader').allInnerTexts()).toEqual(['shop/cart/prod', 'shop/pay/prod', 'shop/search/prod']);
    // Each route links to its page.
    expect(await changes.getByRole('link', { name: 'shop/pay/prod' }).getAttribute('href')).toBe('/console/routes/shop/pay/prod');
    expect(await page.locator('[data-route="shop/pay/prod"]').innerText()).toContain('2 endpoints: blue → https://blue.pay.shop.example');
    expect(await page.locator('[data-route="shop/cart/prod"]').innerText()).toContain('https://cart-new.shop.example');
    await page.getByText('Move checkout to the new cluster', { exact: true }).waitFor();
    await page.getByText('key release-bot', { exact: true }).waitFor();
    await tab.checkPage('change-set');

    // The confirmation says what each route goes back to; Cancel has the focus.
    await page.getByRole('button', { name: `Revert change set ${R}…` }).click();
    const dialog = page.getByRole('dialog', { name: `Revert the change set at revision ${R}?` });
    await dialog.waitFor();
    const preview = dialog.getByRole('table', { name: 'What the revert restores' });
    await preview.getByRole('row', { name: /shop\/pay\/prod/ }).getByText('deleted (this change set created it)').waitFor();
    await preview.getByRole('row', { name: /shop\/cart\/prod/ }).getByText(/as of revision \d+: https:\/\/cart-old\.shop\.example/).waitFor();
    expect(await dialog.getByRole('button', { name: 'Cancel' }).evaluate((el) => el === el.ownerDocument.activeElement)).toBe(true);
    await tab.checkPage('revert-confirm');
    await dialog.getByRole('button', { name: 'Revert', exact: true }).click();

    const done = page.getByRole('status').filter({ hasText: 'Reverted' });
    await done.waitFor();
    const text = await done.innerText();
    const reverted = Number(/new change set at revision (\d+)/.exec(text)?.[1]);
    expect(reverted).toBeGreaterThan(R);
    expect(text).toMatch(/shop\/cart\/prod updated/);
    expect(text).toMatch(/shop\/pay\/prod deleted/);
    await done.getByRole('link', { name: `The change set at revision ${reverted}` }).waitFor();
    // Its propagation, live on the page until in sync (the relay, the worker and the resolver have it).
    const propagation = page.getByRole('region', { name: `Propagation of revision ${reverted}` });
    await propagation.getByRole('status').filter({ hasText: `Revision ${reverted} is in sync` }).waitFor({ timeout: 30_000 });
    expect(await propagation.innerText()).toMatch(/Published to Kafka\s*yes/);
    expect(await propagation.innerText()).toMatch(/Cache applied\s*yes/);

    // The store agrees: the routes the set created are gone, the one it updated is as it was.
    expect(await route('shop/cart/prod')).toMatchObject({ status: 200, url: 'https://cart-old.shop.example', revision: reverted });
    expect(await route('shop/pay/prod')).toEqual({ status: 404 });
    expect(await route('shop/search/prod')).toEqual({ status: 404 });
    expect(tab.consoleErrors()).toEqual([]);
    await tab.close();
  }, 120_000);

  it('refuses a revert whose route changed since: the conflict named with its revisions, nothing applied', async () => {
    const set = await changeSet(
      [
        { op: 'put', route: 'shop/a/prod', body: { url: 'https://a.shop.example' } },
        { op: 'put', route: 'shop/b/prod', body: { url: 'https://b.shop.example' } },
      ],
      'Two new routes',
    );
    const R = set.revision;
    const moved = await admin(stack, 'PUT', '/v1/routes/shop/b/prod', { url: 'https://b2.shop.example' });
    expect(moved.status).toBe(200);
    const actual = (moved.json as { revision: number }).revision;

    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(operator);
    await tab.goto(`changes/${R}`);
    const page = tab.page;
    await page.getByRole('button', { name: `Revert change set ${R}…` }).click();
    const dialog = page.getByRole('dialog');
    // The preview already says it: b moved on.
    await dialog.getByText(`changed since (now at revision ${actual})`).waitFor();
    await dialog.getByRole('button', { name: 'Revert', exact: true }).click();

    const refused = page.getByRole('alert').filter({ hasText: 'Not reverted: routes changed since' });
    await refused.waitFor();
    expect(await refused.innerText()).toContain('Nothing was applied (409)');
    const conflicts = refused.getByRole('table', { name: `Routes changed since revision ${R}` });
    expect(await conflicts.getByRole('row').allInnerTexts()).toEqual([
      expect.stringMatching(/Route\s+Expected revision\s+Actual revision\s+History/),
      expect.stringMatching(new RegExp(`shop/b/prod\\s+${R}\\s+${actual}\\s+history`)),
    ]);
    expect(await conflicts.getByRole('link', { name: 'History of shop/b/prod' }).getAttribute('href')).toBe('/console/routes/shop/b/prod/history');
    await tab.checkPage('revert-conflict');

    // Nothing applied: a is still there, b as the admin left it.
    expect(await route('shop/a/prod')).toMatchObject({ status: 200, url: 'https://a.shop.example', revision: R });
    expect(await route('shop/b/prod')).toMatchObject({ status: 200, url: 'https://b2.shop.example', revision: actual });
    expect(tab.consoleErrors([409])).toEqual([]);
    await tab.close();
  }, 120_000);

  it("shows a revision's propagation: in sync with the resolver replica listed; an invalid revision and one beyond the store in words", async () => {
    const set = await changeSet([{ op: 'put', route: 'shop/status/prod', body: { url: 'https://status.shop.example' } }], 'A status page');
    const R = set.revision;
    // The replica's id (its host name and pid, unless set), as the API lists it once in sync.
    let replica: string | undefined;
    const deadline = Date.now() + 30_000;
    while (!replica && Date.now() < deadline) {
      const status = (await admin(stack, 'GET', `/v1/revisions/${R}`)).json as { status: string; resolvers: { replica: string }[] };
      if (status.status === 'in-sync') replica = status.resolvers[0]?.replica;
      else await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(replica).toEqual(expect.any(String));

    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(operator);
    const page = tab.page;
    // The index: a revision typed into the form opens its page.
    await tab.goto('revisions');
    await page.getByRole('heading', { name: 'Propagation', level: 1 }).waitFor();
    await page.getByLabel('Revision', { exact: true }).fill('-3');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByText('A revision is a whole number, 0 or more.').waitFor();
    expect(await page.getByLabel('Revision', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await page.getByLabel('Revision', { exact: true }).fill(String(R));
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('heading', { name: `Propagation of revision ${R}` }).waitFor();
    expect(page.url()).toBe(`${consoleUrl}revisions/${R}`);
    await page.getByRole('status').filter({ hasText: `Revision ${R} is in sync` }).waitFor({ timeout: 30_000 });
    const replicas = page.getByRole('table', { name: 'Resolver replicas' });
    const row = replicas.getByRole('row').filter({ has: page.getByRole('rowheader', { name: replica, exact: true }) });
    expect(await row.innerText()).toMatch(new RegExp(`${R}\\s+holds ${R}[\\s\\S]*live`));
    expect(await page.getByRole('link', { name: `The change set at revision ${R}` }).getAttribute('href')).toBe(`/console/changes/${R}`);
    await tab.checkPage('propagation');

    await tab.goto('revisions/not-a-number');
    await page.getByRole('alert').filter({ hasText: '“not-a-number” is not a revision' }).waitFor();
    await tab.goto(`revisions/${R + 100_000}`);
    const beyond = page.getByRole('alert').filter({ hasText: 'Not committed yet' });
    await beyond.waitFor();
    expect(await beyond.innerText()).toContain(`Revision ${R + 100_000} is beyond the store's current revision (412)`);
    await tab.checkPage('propagation-beyond');
    expect(tab.consoleErrors([412])).toEqual([]);
    await tab.close();
  }, 120_000);

  it('lists the recent change sets (audit:read) and opens one by revision; says when there is none this key may see', async () => {
    const set = await changeSet([{ op: 'put', route: 'shop/index/prod', body: { url: 'https://index.shop.example' } }], 'For the index');
    const R = set.revision;
    const tab = await ConsoleTab.open(browser, consoleUrl);
    await tab.signIn(operator);
    const page = tab.page;
    await tab.goto('changes');
    await page.getByRole('heading', { name: 'Change sets', level: 1 }).waitFor();
    const recent = page.getByRole('table');
    const row = recent.getByRole('row').filter({ has: page.getByRole('link', { name: `Change set at revision ${R}`, exact: true }) });
    await row.waitFor();
    expect(await row.innerText()).toMatch(/shop\s+key release-bot\s+1\s+For the index/);
    await tab.checkPage('change-sets');
    await recent.getByRole('link', { name: `Change set at revision ${R}` }).click();
    await page.getByRole('heading', { name: `Change set at revision ${R}` }).waitFor();
    await page.getByText('For the index', { exact: true }).waitFor();

    await tab.goto('changes');
    await page.getByLabel('Revision', { exact: true }).fill(String(R + 100_000));
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByRole('alert').filter({ hasText: `There is no change set at revision ${R + 100_000} that this key may see (404)` }).waitFor();
    expect(tab.consoleErrors([404])).toEqual([]);
    await tab.close();
  }, 120_000);
});
