import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FakeServer, notFound, openStream, problem, resolved } from './lib/fake-server.test-support';

/**
 * The package as users get it: built, packed, installed into an empty folder; its CLI against a
 * local fake server; a process that never calls close() still exits.
 */
const run = promisify(execFile);
const root = join(__dirname, '..', '..', '..');
const dist = join(root, 'dist', 'libs', 'client');
const cli = join(dist, 'cli.js');
let installDir: string;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking this process (the fake servers live in it). */
function spawnRun(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not exit within ${options.timeoutMs ?? 20_000} ms; stdout: ${stdout}; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  await run(process.execPath, [join(root, 'libs', 'client', 'build.mjs')], { cwd: root });
  installDir = mkdtempSync(join(tmpdir(), 'tm-client-install-'));
  const packDir = mkdtempSync(join(tmpdir(), 'tm-client-pack-'));
  try {
    const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: dist });
    const tarball = join(packDir, stdout.trim().split('\n').pop() as string);
    writeFileSync(join(installDir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    await run('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball], { cwd: installDir });
  } finally {
    rmSync(packDir, { recursive: true, force: true });
  }
}, 120_000);

afterAll(() => {
  if (installDir) rmSync(installDir, { recursive: true, force: true });
});

describe('the package', () => {
  it('has its manifest: name, version, engines, exports, bin, files and no dependency', () => {
    const manifest = JSON.parse(readFileSync(join(installDir, 'node_modules', '@traffic-manager', 'client', 'package.json'), 'utf8'));
    expect(manifest).toMatchObject({
      name: '@traffic-manager/client',
      version: '0.1.0',
      engines: { node: '>=20' },
      bin: { tm: './cli.js' },
      exports: { '.': { import: { types: './index.d.mts', default: './index.mjs' }, require: { types: './index.d.ts', default: './index.js' } } },
    });
    expect(manifest.dependencies ?? {}).toEqual({});
    expect(readdirSync(join(installDir, 'node_modules', '@traffic-manager', 'client')).sort()).toEqual(
      ['CHANGELOG.md', 'README.md', 'cli.js', 'index.d.mts', 'index.d.ts', 'index.js', 'index.mjs', 'package.json'].sort(),
    );
    // Nothing else was installed: the internal libs are bundled in.
    expect(readdirSync(join(installDir, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual(['@traffic-manager']);
    expect(readFileSync(join(installDir, 'node_modules', '@traffic-manager', 'client', 'index.d.ts'), 'utf8')).not.toContain('@tm/');
  });

  it('require() and import both give the public names', async () => {
    const names = ['Session', 'TrafficManagerClient', 'TrafficManagerError', 'trafficManagerMiddleware'];
    const cjs = await spawnRun(process.execPath, ['-e', "console.log(Object.keys(require('@traffic-manager/client')).sort().join(','))"], { cwd: installDir });
    expect(cjs).toMatchObject({ code: 0, stdout: `${names.join(',')}\n` });
    const esm = await spawnRun(
      process.execPath,
      ['--input-type=module', '-e', "import * as m from '@traffic-manager/client'; import { TrafficManagerClient } from '@traffic-manager/client'; console.log(Object.keys(m).sort().join(','), typeof TrafficManagerClient)"],
      { cwd: installDir },
    );
    expect(esm).toMatchObject({ code: 0, stdout: `${names.join(',')} function\n` });
  });

  it('npx tm --help runs the installed bin', async () => {
    const help = await spawnRun('npx', ['--offline', 'tm', '--help'], { cwd: installDir });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: tm');
    expect(help.stdout).toContain('Exit codes: 0 done, 1 failure, 2 usage error, 3 not found.');
  });

  it('a process that resolves once with an open watch and never calls close() exits by itself', async () => {
    const server = await FakeServer.start();
    try {
      // The watch stays open, with a bookmark every 100 ms: only the SDK's unref() lets the process end.
      server.on('/v1/watch/acme', (_req, res) => {
        const stream = openStream(res, 100).snapshot({ 'acme/api/prod': ['https://a.example', 3] }, 5);
        const beat = setInterval(() => stream.bookmark(5), 100);
        res.on('close', () => clearInterval(beat));
      });
      const script = [
        "const { TrafficManagerClient } = require('@traffic-manager/client');",
        `const tm = new TrafficManagerClient({ resolverUrl: ${JSON.stringify(server.url)}, staleIfErrorMs: 1000 });`,
        "tm.resolve('acme/api/prod').then((r) => console.log(r.source, r.url));",
      ].join('\n');
      const ran = await spawnRun(process.execPath, ['-e', script], { cwd: installDir, timeoutMs: 15_000 });
      expect(ran).toMatchObject({ code: 0, stdout: 'memory https://a.example\n', stderr: '' });
      expect(server.requests('/v1/watch/acme').length).toBeGreaterThanOrEqual(1);
    } finally {
      await server.close();
    }
  });
});

describe('the tm CLI', () => {
  let server: FakeServer;
  const route = { tenant: 'acme', service: 'api', environment: 'prod', url: 'https://a.example', revision: 7, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };

  beforeAll(async () => {
    server = await FakeServer.start();
    server.on('/v1/routes/acme/api/prod', (req, res) => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json', etag: '"7"', 'x-route-revision': '7' });
        res.end(JSON.stringify(route));
      } else if (req.method === 'PUT') {
        problem(res, 412, 'Precondition Failed', 'route acme/api/prod\nexists');
      } else {
        res.writeHead(204, { 'x-route-revision': '8' });
        res.end();
      }
    });
    server.on('/v1/routes/acme/new/prod', (_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-route-revision': '9' });
      res.end(JSON.stringify({ ...route, service: 'new', url: 'https://n.example', revision: 9 }));
    });
    server.on('/v1/routes/acme/none/prod', (_req, res) => problem(res, 404, 'Not Found', 'route acme/none/prod does not exist'));
    server.on('/v1/routes/beta/', (_req, res) => problem(res, 401, 'Unauthorized', 'missing or unknown key'));
    server.on('/v1/routes?', (req, res) => {
      const cursor = new URL(req.url ?? '/', server.url).searchParams.get('cursor');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(cursor === null ? { items: [route], nextCursor: 'c2' } : { items: [{ ...route, service: 'web', revision: 8 }], nextCursor: null }));
    });
    server.on('/v1/resolve/acme/api/prod', (_req, res) => resolved(res, 'acme/api/prod', 'https://a.example', 7, 9, 2));
    server.on('/v1/resolve/acme/none/prod', (_req, res) => notFound(res, 'acme/none/prod', 9));
    server.on('/v1/watch/acme', (_req, res) => {
      openStream(res).snapshot({ 'acme/api/prod': ['https://a.example', 7] }, 9).put('acme/api/prod', 'https://b.example', 10, 10).delete('acme/api/prod', 11).bookmark(11);
      setTimeout(() => res.end(), 50);
    });
  });

  afterAll(async () => {
    await server.close();
  });

  function tm(...args: string[]): Promise<Ran> {
    return spawnRun(process.execPath, [cli, ...args], { env: { ...process.env, TM_COMMAND_URL: server.url, TM_RESOLVER_URL: server.url, TM_API_KEY: 'k9' } });
  }

  it('get, put, delete, ls and resolve print one line each and exit 0', async () => {
    expect(await tm('get', 'acme/api/prod')).toEqual({ code: 0, stdout: 'acme/api/prod https://a.example rev 7\n', stderr: '' });
    expect(server.requests('/v1/routes/acme/api/prod')[0]?.headers['authorization']).toBe('Bearer k9');
    expect(await tm('put', 'acme/new/prod', 'https://n.example')).toEqual({ code: 0, stdout: 'created acme/new/prod https://n.example rev 9\n', stderr: '' });
    expect(await tm('delete', 'acme/api/prod')).toEqual({ code: 0, stdout: 'deleted acme/api/prod rev 8\n', stderr: '' });
    expect(await tm('ls', 'acme')).toEqual({ code: 0, stdout: 'acme/api/prod https://a.example rev 7\nacme/web/prod https://a.example rev 8\n', stderr: '' });
    expect(server.requests('/v1/routes?').map((r) => r.url)).toEqual(['/v1/routes?tenant=acme&limit=500', '/v1/routes?tenant=acme&cursor=c2&limit=500']);
    expect(await tm('resolve', 'acme/api/prod', '--min-revision', '9')).toEqual({ code: 0, stdout: 'https://a.example rev 7 as-of 9 age 2s\n', stderr: '' });
    expect(server.requests('/v1/resolve/acme/api/prod')[0]?.headers['x-min-revision']).toBe('9');
  });

  it('not found is exit 3', async () => {
    expect(await tm('get', 'acme/none/prod')).toMatchObject({ code: 3, stdout: '' });
    expect(await tm('delete', 'acme/none/prod')).toMatchObject({ code: 3 });
    expect(await tm('resolve', 'acme/none/prod')).toMatchObject({ code: 3 });
  });

  it('a problem answer is exit 1 with one line on stderr', async () => {
    expect(await tm('put', 'acme/api/prod', 'https://x.example')).toEqual({ code: 1, stdout: '', stderr: 'tm: 412 Precondition Failed: route acme/api/prod exists\n' });
    expect(await tm('get', 'beta/api/prod')).toEqual({ code: 1, stdout: '', stderr: 'tm: 401 Unauthorized: missing or unknown key\n' });
    const down = await spawnRun(process.execPath, [cli, 'get', 'acme/api/prod', '--command-url', 'http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.stderr.split('\n')).toHaveLength(2);
  });

  it('usage errors are exit 2 with one line on stderr', async () => {
    for (const args of [[], ['bogus'], ['get'], ['get', 'Not/A/Route'], ['put', 'acme/api/prod', 'ftp://x'], ['ls', 'a', 'b'], ['--nope'], ['get', 'acme/api/prod', '--command-url', 'ftp://x']]) {
      const ran = await tm(...args);
      expect({ args, code: ran.code, lines: ran.stderr.split('\n').length }).toEqual({ args, code: 2, lines: 2 });
      expect(ran.stderr).toMatch(/^tm: /);
    }
  });

  it('watch prints one line per event until the stream ends (exit 1), or the JSON data with --json', async () => {
    const watched = await tm('watch', 'acme');
    expect(watched.stdout).toBe('put acme/api/prod https://a.example rev 7\nbookmark 9 snapshot\nput acme/api/prod https://b.example rev 10\ndelete acme/api/prod rev 11\nbookmark 11\n');
    expect(watched).toMatchObject({ code: 1, stderr: 'tm: watch: the stream ended\n' });
    const json = await tm('watch', 'acme', '--json');
    const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatchObject({ revision: 9, snapshot: true });
    expect(lines[2]).toMatchObject({ type: 'traffic-manager.route.upserted.v1', data: { url: 'https://b.example', revision: 10 } });
  });
});
