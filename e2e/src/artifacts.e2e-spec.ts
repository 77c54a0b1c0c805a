import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppProcess, createTestDatabase, createTestEnvironment, freePort, REPO_ROOT, type AppName, type TestEnvironment } from '@tm/testing';
import { query } from './support';

const run = promisify(execFile);

/**
 * What an image runs: `nx build <app>` gives a folder with main.js and a generated package.json and
 * lockfile; `npm ci --omit=dev` there and `node main.js` must start the app, with nothing from the
 * workspace.
 */
describe('production artifacts', () => {
  let environment: TestEnvironment;
  const folders: string[] = [];
  beforeAll(async () => {
    environment = await createTestEnvironment();
  });
  // Removing each installed folder (a node_modules of its own) took over a minute on a loaded machine.
  afterAll(async () => {
    await Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true })));
    await environment.cleanup();
  }, 300_000);

  async function install(project: string): Promise<string> {
    const folder = mkdtempSync(join(tmpdir(), `tm-artifact-${project.replace('/', '-')}-`));
    folders.push(folder);
    cpSync(join(REPO_ROOT, 'dist', project), folder, { recursive: true });
    await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: folder, timeout: 240_000 });
    return folder;
  }

  it('the migrations runner migrates a database from its own folder', async () => {
    const folder = await install('migrations');
    const db = await createTestDatabase();
    try {
      // A fresh clone of the template is migrated already: the runner finds nothing to do, and says so.
      const { stdout } = await run(process.execPath, [join(folder, 'main.js')], { env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: db.url } });
      expect(JSON.parse(stdout.trim())).toMatchObject({ app: 'migrate', applied: [] });
      const rows = await query<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM typeorm_migrations');
      expect(rows[0]?.n).toBeGreaterThan(0);
    } finally {
      await db.drop();
    }
  }, 300_000);

  it.each<AppName>(['command-api', 'resolver', 'outbox-relay', 'invalidation-worker', 'health-prober'])(
    '%s starts from its own folder with production dependencies only',
    async (app) => {
      const folder = await install(`apps/${app}`);
      // The prober also needs the resolver's address and a key: it starts while the resolver is not there.
      const extra: Record<string, string> = app === 'health-prober' ? { RESOLVER_URL: 'http://127.0.0.1:9', PROBER_API_KEY: 'artifact-test-key-0123456789' } : {};
      const proc = new AppProcess(app, await freePort(), { ...environment.env, ...extra }, join(folder, 'main.js'));
      try {
        const deadline = Date.now() + 30_000;
        let live = 0;
        while (Date.now() < deadline && live !== 200) {
          live = await fetch(`${proc.url}/health/live`).then((r) => r.status, () => 0);
          if (live !== 200) await new Promise((r) => setTimeout(r, 100));
        }
        expect(live).toBe(200);
      } finally {
        expect(await proc.stop()).toEqual({ code: 0, signal: null });
      }
    },
    300_000,
  );
});
