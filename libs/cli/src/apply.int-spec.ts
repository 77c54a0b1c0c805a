import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrafficManagerClient } from '@traffic-manager/client';
// The command API in-process against a database of its own (its test support; libs never import apps otherwise).
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ADMIN_TOKEN, CommandApiUnderTest } from '../../../apps/command-api/src/command-api.test-support';
import { planFile, readRouteFile, submitPlan } from './apply/apply';
import { Failure } from './io';
import { runTm, type Ran } from './main.test-support';

/**
 * `tm apply`, `tm diff`, `tm history`, `tm rollback` and `tm revert` against a real command API
 * (PostgreSQL behind it): one change set per apply, compares that abort it whole, --prune within
 * the file's tenants, nothing sent when nothing changes.
 */
let api: CommandApiUnderTest;
let commandUrl: string;
let dir: string;
let keyFile: string;
let sdk: TrafficManagerClient;

/** The limit of one change set, low so that a file can go over it. */
const MAX_CHANGES = 6;

beforeAll(async () => {
  api = await CommandApiUnderTest.start({ env: { CHANGESET_MAX_CHANGES: String(MAX_CHANGES) } });
  await api.app.listen(0, '127.0.0.1');
  const address = api.app.getHttpServer().address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  commandUrl = `http://127.0.0.1:${address.port}`;
  dir = mkdtempSync(join(tmpdir(), 'tm-apply-'));
  keyFile = join(dir, 'key');
  writeFileSync(keyFile, ADMIN_TOKEN);
  sdk = new TrafficManagerClient({ commandUrl, resolverUrl: commandUrl, apiKey: ADMIN_TOKEN, watch: false });
});

afterAll(async () => {
  await sdk?.close();
  await api?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `tm` in this process against the API, its output captured. */
function tm(...args: string[]): Promise<Ran> {
  return runTm(['--command-url', commandUrl, '--resolver-url', commandUrl, '--api-key-file', keyFile, ...args]);
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The store's revision and how many change sets it holds: unchanged means nothing was applied. */
async function store(): Promise<{ revision: number; changeSets: number }> {
  const revision = Number((await api.db.query<{ revision: string }>('SELECT revision FROM store_revision')).rows[0]?.revision);
  const changeSets = Number((await api.db.query<{ n: string }>('SELECT count(*) AS n FROM change_sets')).rows[0]?.n);
  return { revision, changeSets };
}

const ROUTES = `description: acme from git
routes:
  - route: acme/billing/prod
    url: https://billing.acme.example
  - route: acme/search/prod
    endpoints:
      - {id: blue, url: "https://blue.acme.example", weight: 3}
      - {id: green, url: "https://green.acme.example", weight: 0}
    healthCheck:
      path: /healthz
  - route: beta/web/prod
    url: https://web.beta.example
`;

describe('tm apply and tm diff against the command API', () => {
  it('creates the routes of a file in one change set; applied again, the plan is empty and nothing is sent', async () => {
    const path = file('routes.yaml', ROUTES);
    const before = await store();
    const applied = await tm('apply', '-f', path);
    expect(applied).toMatchObject({ code: 0, stderr: '' });
    expect(applied.stdout).toContain('+ acme/search/prod (create)');
    expect(applied.stdout).toContain('    endpoints[0].weight: 3');
    const after = await store();
    expect(after).toEqual({ revision: before.revision + 1, changeSets: before.changeSets + 1 });
    expect(applied.stdout).toContain(`change set rev ${after.revision}: 3 route(s) changed`);
    expect(await sdk.get('acme/search/prod')).toMatchObject({
      url: 'https://blue.acme.example',
      revision: after.revision,
      endpoints: [
        { id: 'blue', url: 'https://blue.acme.example', priority: 1, weight: 3, state: 'enabled' },
        { id: 'green', url: 'https://green.acme.example', priority: 1, weight: 0, state: 'enabled' },
      ],
      healthCheck: { type: 'http', path: '/healthz' },
    });
    expect((await sdk.changeSet(after.revision))?.description).toBe('acme from git');

    // Again: every route already matches (the server's defaults included): nothing sent, nothing committed.
    const again = await tm('apply', '-f', path);
    expect(again).toEqual({ code: 0, stdout: 'no changes (3 route(s) already as the file says)\n', stderr: '' });
    expect(await store()).toEqual(after);
    expect(await tm('diff', '-f', path, '--exit-code')).toEqual({ code: 0, stdout: 'no changes (3 route(s) already as the file says)\n', stderr: '' });
  });

  it('diff prints the plan field by field and --exit-code exits 4; --dry-run applies nothing; --json prints the plan', async () => {
    const path = file('changed.yaml', ROUTES.replace('weight: 3', 'weight: 5').replace('https://web.beta.example', 'https://web2.beta.example'));
    const before = await store();
    const revisions = { search: (await sdk.get('acme/search/prod'))?.revision, web: (await sdk.get('beta/web/prod'))?.revision };
    const diffed = await tm('diff', '-f', path, '--exit-code');
    expect(diffed).toEqual({
      code: 4,
      stdout: [
        `~ acme/search/prod (update, at rev ${revisions.search})`,
        '    endpoints[0].weight: 3 → 5',
        `~ beta/web/prod (update, at rev ${revisions.web})`,
        '    url: https://web.beta.example → https://web2.beta.example',
        'plan: 0 to create, 2 to update, 0 to delete; 1 unchanged',
        '',
      ].join('\n'),
      stderr: '',
    });
    expect((await tm('diff', '-f', path)).code).toBe(0);
    const dry = await tm('apply', '-f', path, '--dry-run', '--json');
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ applied: false, plan: { steps: [{ action: 'update', route: 'acme/search/prod' }, { action: 'update', route: 'beta/web/prod' }], unchanged: ['acme/billing/prod'] } });
    expect(await store()).toEqual(before);
  });

  it('a route changed between the plan and the apply aborts the whole set: the conflict printed, nothing applied', async () => {
    const path = file('race.yaml', ROUTES.replace('https://billing.acme.example', 'https://billing2.acme.example').replace('weight: 3', 'weight: 4'));
    const routes = await readRouteFile(path);
    const plan = await planFile(sdk, routes, false);
    expect(plan.steps.map((s) => s.route)).toEqual(['acme/billing/prod', 'acme/search/prod']);
    // Someone else changes a planned route after the plan.
    const planned = plan.steps.find((s) => s.route === 'acme/search/prod');
    const elsewhere = await sdk.put('acme/search/prod', { url: 'https://elsewhere.acme.example' });
    const before = await store();
    let stderr = '';
    const errSpy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr += String(chunk);
      return true;
    });
    const failed = await submitPlan(sdk, routes, plan, { wait: false, waitTimeoutMs: undefined })
      .catch((e: unknown) => e)
      .finally(() => errSpy.mockRestore());
    expect(failed).toBeInstanceOf(Failure);
    expect((failed as Failure).message).toContain('nothing was applied: 1 route(s) changed since the plan');
    expect(stderr).toBe(`tm: conflict: acme/search/prod expected at rev ${planned?.action === 'update' ? planned.revision : 'x'}, now at rev ${elsewhere.revision}\n`);
    expect(await store()).toEqual(before);
    expect((await sdk.get('acme/billing/prod'))?.url).toBe('https://billing.acme.example');
    expect((await sdk.get('acme/search/prod'))?.url).toBe('https://elsewhere.acme.example');
    // The CLI, planned afresh, applies it.
    const applied = await tm('apply', '-f', path);
    expect(applied.code).toBe(0);
    expect((await sdk.get('acme/search/prod'))?.endpoints?.[0]).toMatchObject({ id: 'blue', weight: 4 });
  });

  it('--prune deletes the routes of the file’s tenants it does not list, and never another tenant’s', async () => {
    await sdk.put('acme/stray/prod', { url: 'https://stray.acme.example' });
    await sdk.put('acme/stray/staging', { url: 'https://stray-staging.acme.example' });
    await sdk.put('gamma/keep/prod', { url: 'https://keep.gamma.example' });
    // The file lists acme's routes only: beta's and gamma's stay.
    const path = file('acme.yaml', `routes:\n  - route: acme/billing/prod\n    url: https://billing2.acme.example\n  - route: acme/search/prod\n    endpoints: [{id: blue, url: "https://blue.acme.example", weight: 4}, {id: green, url: "https://green.acme.example", weight: 0}]\n    healthCheck: {path: /healthz}\n`);
    const pruned = await tm('apply', '-f', path, '--prune');
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toContain('- acme/stray/prod (delete');
    expect(pruned.stdout).toContain('deleted acme/stray/staging');
    expect(await sdk.get('acme/stray/prod')).toBeNull();
    expect(await sdk.get('acme/stray/staging')).toBeNull();
    expect(await sdk.get('gamma/keep/prod')).not.toBeNull();
    expect(await sdk.get('beta/web/prod')).not.toBeNull();
    expect((await sdk.list({ tenant: 'acme' })).items.map((r) => `${r.service}/${r.environment}`).sort()).toEqual(['billing/prod', 'search/prod']);
  });

  it('a file with a mistake: its name, line and field, exit 2, nothing applied', async () => {
    const path = file('bad.yaml', 'routes:\n  - route: acme/billing/prod\n    url: https://billing3.acme.example\n  - route: acme/x/prod\n    url: https://x.acme.example\n    weigth: 2\n');
    const before = await store();
    expect(await tm('apply', '-f', path)).toEqual({
      code: 2,
      stdout: '',
      stderr: `${path}:6: routes[1].weigth: unknown field (known: route, url, endpoints, healthCheck)\nnothing was applied\n`,
    });
    expect(await store()).toEqual(before);
    expect((await tm('apply')).code).toBe(2);
  });

  it('a plan over CHANGESET_MAX_CHANGES is refused by the server: said plainly, exit 1, nothing applied', async () => {
    const many = Array.from({ length: MAX_CHANGES + 1 }, (_, i) => `  - route: delta/s${i}/prod\n    url: https://s${i}.delta.example\n`).join('');
    const path = file('many.yaml', `routes:\n${many}`);
    const before = await store();
    const refused = await tm('apply', '-f', path);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`the plan has ${MAX_CHANGES + 1} changes; the command API takes at most CHANGESET_MAX_CHANGES`);
    expect(refused.stderr).toContain('nothing was applied');
    expect(await store()).toEqual(before);
  });
});

describe('tm history, rollback and revert against the command API', () => {
  it('shows a route’s versions, rolls it back to one, and reverts a change set', async () => {
    const v1 = await sdk.put('eps/api/prod', { url: 'https://v1.eps.example' });
    const v2 = await sdk.put('eps/api/prod', { url: 'https://v2.eps.example' });
    const shown = await tm('history', 'eps/api/prod', '--limit', '1');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^rev ${v2.revision} \\S+ put https://v2\\.eps\\.example by admin\\n$`));
    const json = await tm('history', 'eps/api/prod', '--json');
    expect(json.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { revision: number }).revision)).toEqual([v2.revision, v1.revision]);

    const back = await tm('rollback', 'eps/api/prod', '--to', String(v1.revision), '--if-match', String(v2.revision));
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/^updated eps\/api\/prod rev (\d+)\nchange set rev \1: 1 route\(s\) changed\n$/);
    expect((await sdk.get('eps/api/prod'))?.url).toBe('https://v1.eps.example');
    const stale = await tm('rollback', 'eps/api/prod', '--to', String(v2.revision), '--if-match', String(v2.revision));
    expect(stale.code).toBe(1);
    expect((await tm('rollback', 'eps/api/prod')).code).toBe(2);

    const set = await sdk.apply([
      { op: 'put', route: 'eps/a/prod', body: { url: 'https://a.eps.example' } },
      { op: 'delete', route: 'eps/api/prod' },
    ]);
    const reverted = await tm('revert', String(set.revision));
    expect(reverted.code).toBe(0);
    expect(await sdk.get('eps/a/prod')).toBeNull();
    expect((await sdk.get('eps/api/prod'))?.url).toBe('https://v1.eps.example');
    // Reverting it again: its routes are no longer as it left them.
    const again = await tm('revert', String(set.revision));
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('tm: conflict: eps/a/prod expected at rev');
    expect((await tm('revert', '999999')).code).toBe(1);
  });
});

describe('propagation against the command API (no relay or worker running here: revisions stay pending)', () => {
  it('status reads a revision; --wait gives up when the wait ends (exit 1); beyond the store is a conflict', async () => {
    const written = await sdk.put('prop/api/prod', { url: 'https://api.prop.example' });
    const status = await sdk.status(written.revision);
    expect(status).toMatchObject({ revision: written.revision, status: 'pending', published: false });
    expect(typeof status.checkedAt).toBe('string');
    expect(Array.isArray(status.resolvers)).toBe(true);
    const waited = await sdk.status(written.revision, { wait: true, waitTimeoutMs: 100 });
    expect(waited.status).toBe('pending');
    await expect(sdk.status(written.revision + 1000)).rejects.toMatchObject({ code: 'conflict', status: 412 });

    const shown = await tm('status', String(written.revision));
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(new RegExp(`^revision ${written.revision} pending: published no, `));
    const json = await tm('status', String(written.revision), '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ revision: written.revision, status: 'pending' });
    const gaveUp = await tm('status', String(written.revision), '--wait', '--wait-timeout-ms', '100');
    expect(gaveUp.code).toBe(1);
    expect(gaveUp.stderr).toBe(`tm: revision ${written.revision} is not in sync after the wait\n`);
    expect((await tm('status', 'x')).code).toBe(2);
  });

  it('writes with wait are committed and answer with their propagation, pending here; DELETE answers 200 with its revision', async () => {
    const put = await sdk.put('prop/web/prod', { url: 'https://web.prop.example' }, { wait: true, waitTimeoutMs: 50 });
    expect(put.propagation).toMatchObject({ revision: put.revision, status: 'pending' });
    const session = sdk.session();
    expect(await session.delete('prop/web/prod', { wait: true, waitTimeoutMs: 50 })).toBe(true);
    expect(session.revision).toBeGreaterThan(put.revision);
    expect(await sdk.get('prop/web/prod')).toBeNull();
    const set = await sdk.apply([{ op: 'put', route: 'prop/a/prod', body: { url: 'https://a.prop.example' } }], { wait: true, waitTimeoutMs: 50 });
    expect(set.propagation).toMatchObject({ revision: set.revision, status: 'pending' });

    const cli = await tm('put', 'prop/cli/prod', 'https://cli.prop.example', '--wait', '--wait-timeout-ms', '50');
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(/^created prop\/cli\/prod https:\/\/cli\.prop\.example rev (\d+)\nrevision \1 pending: /);
    expect(cli.stderr).toMatch(/is committed but not yet in sync everywhere/);
    const path = file('prop.yaml', 'routes:\n  - route: prop/b/prod\n    url: https://b.prop.example\n');
    const applied = await tm('apply', '-f', path, '--wait', '--wait-timeout-ms', '50');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toMatch(/change set rev (\d+): 1 route\(s\) changed\nrevision \1 pending: /);
    expect(await sdk.get('prop/b/prod')).not.toBeNull();
  });

  it('whoami tells what the key may do', async () => {
    const plain = await tm('whoami');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^(the admin token: every tenant, every scope|key \S+ \(\S+\), .+)\n$/);
    const json = await tm('whoami', '--json');
    expect(JSON.parse(json.stdout)).toEqual(expect.objectContaining({ scopes: expect.any(Array) }));
    expect((await tm('whoami', 'extra')).code).toBe(2);
  });
});
