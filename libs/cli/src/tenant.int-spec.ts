import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The command API in-process against a database of its own (its test support; libs never import apps otherwise).
// eslint-disable-next-line @nx/enforce-module-boundaries
import { ADMIN_TOKEN, CommandApiUnderTest } from '../../../apps/command-api/src/command-api.test-support';
import { runTm, type Ran } from './main.test-support';

/**
 * `tm tenant T [--dns on|off] [--display-name NAME]` against a real command API (PostgreSQL behind
 * it): the tenant printed, changed through the SDK, and the CLI's exit codes (403 is 1, a usage
 * error 2, an unknown tenant 3).
 */
let api: CommandApiUnderTest;
let commandUrl: string;
let dir: string;
let adminKeyFile: string;

beforeAll(async () => {
  api = await CommandApiUnderTest.start();
  await api.app.listen(0, '127.0.0.1');
  const address = api.app.getHttpServer().address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  commandUrl = `http://127.0.0.1:${address.port}`;
  dir = mkdtempSync(join(tmpdir(), 'tm-tenant-'));
  adminKeyFile = keyFile('admin', ADMIN_TOKEN);
});

afterAll(async () => {
  await api?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function keyFile(name: string, key: string): string {
  const path = join(dir, name);
  writeFileSync(path, key);
  return path;
}

/** Runs `tm` in this process against the API (as admin unless `key` names another key's file), its output captured. */
function tm(args: string[], key = adminKeyFile): Promise<Ran> {
  return runTm(['--command-url', commandUrl, '--resolver-url', commandUrl, '--api-key-file', key, ...args]);
}

const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

async function dnsOf(slug: string): Promise<unknown> {
  return (await api.db.query('SELECT display_name, dns FROM tenants WHERE slug = $1', [slug])).rows[0];
}

describe('tm tenant', () => {
  beforeAll(async () => {
    expect((await api.request('POST', '/v1/tenants', { body: { slug: 'acme', displayName: 'Acme "Rockets"' } })).status).toBe(201);
  });

  it('prints the tenant: slug, display name, dns on|off, created and updated; --json its body', async () => {
    const shown = await tm(['tenant', 'acme']);
    expect(shown).toMatchObject({ code: 0, stderr: '' });
    expect(shown.stdout).toMatch(new RegExp(`^acme "Acme \\\\"Rockets\\\\"" dns off created ${TIME} updated ${TIME}\\n$`));
    const json = await tm(['tenant', 'acme', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual((await api.request('GET', '/v1/tenants/acme')).json());
  });

  it('--dns on and off change the tenant through the SDK and print it; --display-name sets it, an empty one clears it', async () => {
    const on = await tm(['tenant', 'acme', '--dns', 'on']);
    expect(on).toMatchObject({ code: 0, stderr: '' });
    expect(on.stdout).toMatch(/^acme "Acme \\"Rockets\\"" dns on created /);
    expect(await dnsOf('acme')).toEqual({ display_name: 'Acme "Rockets"', dns: true });

    const renamed = await tm(['tenant', 'acme', '--display-name', 'Acme', '--dns', 'off', '--json']);
    expect(renamed.code).toBe(0);
    expect(JSON.parse(renamed.stdout)).toMatchObject({ slug: 'acme', displayName: 'Acme', dns: false });

    const cleared = await tm(['tenant', 'acme', '--display-name', '']);
    expect(cleared).toMatchObject({ code: 0, stderr: '' });
    expect(cleared.stdout).toMatch(/^acme \(no display name\) dns off created /);
    expect(await dnsOf('acme')).toEqual({ display_name: null, dns: false });

    const audit = (await api.request('GET', '/v1/audit?tenant=acme&action=tenant-updated')).json<{ items: { detail: unknown }[] }>().items;
    expect(audit.map((i) => i.detail)).toEqual([
      { displayName: { from: 'Acme', to: null } },
      { displayName: { from: 'Acme "Rockets"', to: 'Acme' }, dns: { from: true, to: false } },
      { dns: { from: false, to: true } },
    ]);
  });

  it('an unknown tenant exits 3, read or changed', async () => {
    expect(await tm(['tenant', 'nobody'])).toEqual({ code: 3, stdout: '', stderr: 'tm: nobody: no such tenant\n' });
    const changed = await tm(['tenant', 'nobody', '--dns', 'on']);
    expect(changed).toMatchObject({ code: 3, stdout: '' });
    expect(changed.stderr).toContain('404');
  });

  it('a key that is not admin exits 1 (403) and changes nothing', async () => {
    const writer = keyFile('writer', await api.createKey(['routes:write'], 'acme'));
    const refused = await tm(['tenant', 'acme', '--dns', 'on'], writer);
    expect(refused).toMatchObject({ code: 1, stdout: '' });
    expect(refused.stderr).toMatch(/^tm: 403 Forbidden/);
    expect(await dnsOf('acme')).toMatchObject({ dns: false });
    // Reading its own tenant is allowed.
    expect((await tm(['tenant', 'acme'], writer)).code).toBe(0);
  });

  it.each([
    ['--dns maybe', ['tenant', 'acme', '--dns', 'maybe'], '--dns must be on or off'],
    ['a bad slug', ['tenant', 'Not_A_Slug'], 'not a tenant name'],
    ['a bad slug to change', ['tenant', 'Not_A_Slug', '--dns', 'on'], 'not a tenant name'],
    ['no tenant', ['tenant'], 'usage: tm tenant T'],
    ['two tenants', ['tenant', 'acme', 'beta'], 'usage: tm tenant T'],
    ['--dns without a value', ['tenant', 'acme', '--dns'], 'dns'],
  ])('%s is a usage error (exit 2), nothing sent', async (_what, args, message) => {
    const before = await dnsOf('acme');
    const ran = await tm(args);
    expect(ran).toMatchObject({ code: 2, stdout: '' });
    expect(ran.stderr).toContain(message);
    expect(await dnsOf('acme')).toEqual(before);
  });

  it('is in the usage text', async () => {
    const help = await tm(['--help']);
    expect(help.stdout).toContain('tenant T --dns on|off');
    expect(help.stdout).toContain('--display-name NAME');
  });
});
