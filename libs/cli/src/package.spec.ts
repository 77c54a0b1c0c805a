import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { filesOf, packagesAndNodes, repoBin, runCommand, type NodeBinary, type PackedPackages, type Ran } from '@tm/testing';
// The SDK's own fake of the contract's HTTP and SSE (a test support file: the CLI runs on the SDK).
// eslint-disable-next-line @nx/enforce-module-boundaries
import { FakeServer, notFound, openStream, problem, resolved, until } from '../../client/src/lib/fake-server.test-support';

/**
 * The CLI as users get it: built, packed, checked (publint, @arethetypeswrong/cli, npm publish
 * --dry-run), installed with the SDK's tarball into an empty project, and run there (`npx tm`,
 * `npx @traffic-manager/cli`, and its bin on the oldest Node its engines allow and on this one)
 * against a local server that speaks the contract.
 */
let packed: PackedPackages;
let nodes: NodeBinary[];

beforeAll(async () => {
  ({ packed, nodes } = await packagesAndNodes());
}, 600_000);

afterAll(() => packed?.remove());

const installed = (): string => join(packed.project, 'node_modules', '@traffic-manager', 'cli');
const cliJs = (): string => join(installed(), 'cli.js');

describe('the @traffic-manager/cli package', () => {
  it('is clean for publint and @arethetypeswrong/cli (a bin, no types), and npm publish --dry-run keeps its bin', async () => {
    const publint = await runCommand(repoBin('publint'), ['run', packed.cli, '--strict'], { timeoutMs: 120_000 });
    expect(publint).toMatchObject({ code: 0 });
    expect(publint.stdout).toContain('All good!');
    const attw = await runCommand(repoBin('attw'), [packed.cli, '--format', 'json'], { timeoutMs: 120_000 });
    expect({ code: attw.code, report: JSON.parse(attw.stdout) as unknown }).toEqual({
      code: 0,
      report: { analysis: { packageName: '@traffic-manager/cli', packageVersion: '0.2.0', types: false } },
    });
    const dryRun = await runCommand('npm', ['publish', '--dry-run'], { cwd: join(packed.dist, 'libs', 'cli'), timeoutMs: 120_000 });
    expect(dryRun.code).toBe(0);
    expect(dryRun.stderr).toContain('@traffic-manager/cli@0.2.0');
    expect(dryRun.stderr.split('\n').filter((l) => /bin|invalid|removed/i.test(l))).toEqual([]);
  });

  it('has its manifest (0.2.0, bin tm, the SDK at the same version as its one dependency) and one copy of the SDK installed', () => {
    const manifest = JSON.parse(readFileSync(join(installed(), 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({
      name: '@traffic-manager/cli',
      version: '0.2.0',
      type: 'commonjs',
      license: 'UNLICENSED',
      engines: { node: '>=20' },
      bin: { tm: 'cli.js' },
      dependencies: { '@traffic-manager/client': '0.2.0', yaml: '2.9.1' },
    });
    expect(filesOf(installed())).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'cli.js', 'package.json']);
    // The SDK and the YAML parser of `tm apply`, nothing more (yaml has no dependencies of its own).
    expect(readdirSync(join(packed.project, 'node_modules')).filter((n) => !n.startsWith('.'))).toEqual(['@traffic-manager', 'yaml']);
    expect(readdirSync(join(packed.project, 'node_modules', '@traffic-manager')).sort()).toEqual(['cli', 'client']);
    // The SDK and yaml are required, not bundled.
    expect(readFileSync(cliJs(), 'utf8')).toContain('require("@traffic-manager/client")');
    expect(readFileSync(cliJs(), 'utf8')).toContain('require("yaml")');
    expect(readFileSync(cliJs(), 'utf8')).not.toContain('class TrafficManagerClient');
  });

  it('npx tm, npx @traffic-manager/cli and the bin on each Node print the versions and the usage', async () => {
    const version = 'tm 0.2.0 (@traffic-manager/client 0.2.0)\n';
    expect(await runCommand('npx', ['--offline', 'tm', '--version'], { cwd: packed.project })).toMatchObject({ code: 0, stdout: version });
    expect(await runCommand('npx', ['--offline', '@traffic-manager/cli', '-v'], { cwd: packed.project })).toMatchObject({ code: 0, stdout: version });
    for (const node of nodes) {
      expect({ node: node.version, ...(await runCommand(node.path, [cliJs(), '--version'], { cwd: packed.project })) }).toMatchObject({ node: node.version, code: 0, stdout: version });
      const help = await runCommand(node.path, [cliJs(), '--help'], { cwd: packed.project });
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Usage: tm');
      expect(help.stdout).toContain('--api-key-file F');
      expect(help.stdout).toContain('Exit codes: 0 done, 1 failure, 2 usage error (a bad file too), 3 not found,\n4 (diff --exit-code) the plan is not empty.');
      expect(help.stdout).toContain('apply -f FILE');
    }
  });
});

describe('the tm CLI, installed, against a server', () => {
  let server: FakeServer;
  const route = { tenant: 'acme', service: 'api', environment: 'prod', url: 'https://a.example', revision: 7, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };

  beforeAll(async () => {
    server = await FakeServer.start();
    server.on('/v1/routes/acme/api/prod', (req, res) => {
      if (req.url?.endsWith('/health')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ probed: false, endpoints: [{ id: 'default', url: 'https://a.example', state: 'enabled', health: 'unknown', since: null, lastError: null }] }));
      } else if (req.method === 'GET') {
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
  });

  afterAll(async () => {
    await server?.close();
  });

  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const { TM_API_KEY: _ignored, ...rest } = process.env;
    return { ...rest, TM_COMMAND_URL: server.url, TM_RESOLVER_URL: server.url, ...extra };
  };
  const tm = (node: NodeBinary, args: string[], extra: Record<string, string> = { TM_API_KEY: 'k9' }): Promise<Ran> =>
    runCommand(node.path, [cliJs(), ...args], { cwd: packed.project, env: env(extra), timeoutMs: 20_000 });

  it('get, put, delete, ls, resolve and health print one line each and exit 0, on each Node', async () => {
    for (const node of nodes) {
      const ok = (stdout: string) => ({ code: 0, signal: null, stdout, stderr: '' });
      expect(await tm(node, ['get', 'acme/api/prod'])).toEqual(ok('acme/api/prod https://a.example rev 7\n'));
      expect(server.requests('/v1/routes/acme/api/prod').at(-1)?.headers['authorization']).toBe('Bearer k9');
      expect(await tm(node, ['put', 'acme/new/prod', 'https://n.example'])).toEqual(ok('created acme/new/prod https://n.example rev 9\n'));
      expect(await tm(node, ['delete', 'acme/api/prod'])).toEqual(ok('deleted acme/api/prod rev 8\n'));
      expect(await tm(node, ['ls', 'acme'])).toEqual(ok('acme/api/prod https://a.example rev 7\nacme/web/prod https://a.example rev 8\n'));
      expect(server.requests('/v1/routes?').slice(-2).map((r) => r.url)).toEqual(['/v1/routes?tenant=acme&limit=500', '/v1/routes?tenant=acme&cursor=c2&limit=500']);
      expect(await tm(node, ['resolve', 'acme/api/prod', '--min-revision', '9'])).toEqual(ok('https://a.example rev 7 as-of 9 age 2s\n'));
      expect(server.requests('/v1/resolve/acme/api/prod').at(-1)?.headers['x-min-revision']).toBe('9');
      expect(await tm(node, ['health', 'acme/api/prod'])).toEqual(ok('acme/api/prod: no health check (every endpoint unknown)\ndefault https://a.example enabled unknown\n'));
    }
  });

  it('not found is exit 3; a problem is exit 1 with one line; usage errors are exit 2 with one line', async () => {
    const node = nodes.at(-1) as NodeBinary;
    expect(await tm(node, ['get', 'acme/none/prod'])).toMatchObject({ code: 3, stdout: '' });
    expect(await tm(node, ['resolve', 'acme/none/prod'])).toMatchObject({ code: 3 });
    expect(await tm(node, ['put', 'acme/api/prod', 'https://x.example'])).toMatchObject({ code: 1, stdout: '', stderr: 'tm: 412 Precondition Failed: route acme/api/prod exists\n' });
    expect(await tm(node, ['get', 'beta/api/prod'])).toMatchObject({ code: 1, stdout: '', stderr: 'tm: 401 Unauthorized: missing or unknown key\n' });
    const down = await tm(node, ['get', 'acme/api/prod', '--command-url', 'http://127.0.0.1:9']);
    expect({ code: down.code, lines: down.stderr.split('\n').length }).toEqual({ code: 1, lines: 2 });
    for (const args of [[], ['bogus'], ['get'], ['get', 'Not/A/Route'], ['put', 'acme/api/prod', 'ftp://x'], ['ls', 'a', 'b'], ['ls', 'Bad!'], ['watch', 'Bad!'], ['--nope'], ['get', 'acme/api/prod', '--command-url', 'ftp://x']]) {
      const ran = await tm(node, args);
      expect({ args, code: ran.code, lines: ran.stderr.split('\n').length }).toEqual({ args, code: 2, lines: 2 });
      expect(ran.stderr).toMatch(/^tm: /);
    }
  });

  it('diff reads a YAML file with the installed yaml and prints the plan; --exit-code exits 4; a bad file names its line', async () => {
    const node = nodes.at(-1) as NodeBinary;
    const routes = join(packed.project, 'routes.yaml');
    writeFileSync(routes, 'routes:\n  - route: acme/api/prod\n    url: https://b.example\n');
    expect(await tm(node, ['diff', '-f', routes, '--exit-code'])).toEqual({
      code: 4,
      signal: null,
      stdout: '~ acme/api/prod (update, at rev 7)\n    url: https://a.example → https://b.example\nplan: 0 to create, 1 to update, 0 to delete; 0 unchanged\n',
      stderr: '',
    });
    writeFileSync(routes, 'routes:\n  - route: acme/api/prod\n    url: https://b.example\n    wait: 1\n');
    expect(await tm(node, ['apply', '-f', routes])).toMatchObject({ code: 2, stdout: '', stderr: `${routes}:4: routes[0].wait: unknown field (known: route, url, endpoints, healthCheck)\nnothing was applied\n` });
  });

  it('takes the key from TM_API_KEY, --api-key-file (trimmed), or --api-key with a warning; an unreadable or empty file is a usage error', async () => {
    const node = nodes.at(-1) as NodeBinary;
    const keyFile = join(packed.project, 'key.txt');
    const emptyFile = join(packed.project, 'empty.txt');
    writeFileSync(keyFile, '  from-file\n');
    writeFileSync(emptyFile, ' \n');
    const authOfLast = () => server.requests('/v1/routes/acme/api/prod').at(-1)?.headers['authorization'];
    expect(await tm(node, ['get', 'acme/api/prod'], { TM_API_KEY: 'from-env' })).toMatchObject({ code: 0, stderr: '' });
    expect(authOfLast()).toBe('Bearer from-env');
    expect(await tm(node, ['get', 'acme/api/prod', '--api-key-file', keyFile], { TM_API_KEY: 'from-env' })).toMatchObject({ code: 0, stderr: '' });
    expect(authOfLast()).toBe('Bearer from-file');
    expect(await tm(node, ['get', 'acme/api/prod'], {})).toMatchObject({ code: 0 });
    expect(authOfLast()).toBeUndefined();
    const inline = await tm(node, ['get', 'acme/api/prod', '--api-key', 'on-the-line'], {});
    expect(inline).toMatchObject({ code: 0, stdout: 'acme/api/prod https://a.example rev 7\n' });
    expect(inline.stderr).toMatch(/^tm: warning: --api-key shows the key .*TM_API_KEY or --api-key-file\n$/);
    expect(authOfLast()).toBe('Bearer on-the-line');
    for (const args of [['--api-key-file', join(packed.project, 'missing.txt')], ['--api-key-file', emptyFile], ['--api-key-file', keyFile, '--api-key', 'x']]) {
      const ran = await tm(node, ['get', 'acme/api/prod', ...args]);
      expect({ args, code: ran.code, stdout: ran.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(ran.stderr).toMatch(/^tm: .*--api-key/);
    }
  });

  it('watch against a refused port exits at once with code 1 and one line, whatever the timeout', async () => {
    for (const node of nodes) {
      const ran = await tm(node, ['watch', 'acme', '--resolver-url', 'http://127.0.0.1:9', '--timeout-ms', '600000']);
      expect({ node: node.version, ...ran }).toMatchObject({ node: node.version, code: 1, stdout: '', stderr: expect.stringMatching(/^tm: watch acme: .*ECONNREFUSED.*\n$/) as string });
    }
  });

  it('watch prints one line per event, resumes after the last revision when the stream drops, takes a new snapshot after a 410, and ends on SIGINT with 0', async () => {
    for (const json of [false, true]) {
      for (const node of nodes) {
        let connections = 0;
        server.on('/v1/watch/acme', (_req, res) => {
          connections++;
          if (connections === 1) {
            openStream(res, 1000).snapshot({ 'acme/api/prod': ['https://a.example', 7] }, 9).put('acme/api/prod', 'https://b.example', 10, 10).delete('acme/api/prod', 11).bookmark(11);
            setTimeout(() => res.end(), 50);
          } else if (connections === 2) {
            openStream(res, 1000).put('acme/api/prod', 'https://c.example', 12, 12).bookmark(12);
            setTimeout(() => res.end(), 50);
          } else if (connections === 3) {
            problem(res, 410, 'Gone', 'history compacted', { compactRevision: 20, currentRevision: 30 });
          } else {
            openStream(res, 1000).snapshot({ 'acme/api/prod': ['https://d.example', 25] }, 30);
          }
        });
        const child = spawn(node.path, [cliJs(), 'watch', 'acme', ...(json ? ['--json'] : [])], { cwd: packed.project, env: env({ TM_API_KEY: 'k9' }), stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
        try {
          await until(() => stdout.split('\n').length > 9, 30_000, `the snapshot after the 410 (stdout: ${stdout}; stderr: ${stderr})`);
        } finally {
          child.kill('SIGINT');
        }
        expect(await exited).toEqual({ code: 0, signal: null });
        const watches = server.requests('/v1/watch/acme').slice(-4);
        expect(watches.map((r) => r.headers['last-event-id'])).toEqual([undefined, '11', '12', undefined]);
        expect(watches[0]?.headers['authorization']).toBe('Bearer k9');
        const lines = stdout.trim().split('\n');
        if (json) {
          // Each event's data: the CloudEvent of a put or delete, or the bookmark.
          const revisions = lines.map((l) => {
            const value = JSON.parse(l) as { type?: string; data?: { revision: number }; revision?: number };
            return value.data ? `${value.type}:${value.data.revision}` : `bookmark:${value.revision}`;
          });
          expect(revisions).toEqual([
            'traffic-manager.route.upserted.v1:7',
            'bookmark:9',
            'traffic-manager.route.upserted.v1:10',
            'traffic-manager.route.deleted.v1:11',
            'bookmark:11',
            'traffic-manager.route.upserted.v1:12',
            'bookmark:12',
            'traffic-manager.route.upserted.v1:25',
            'bookmark:30',
          ]);
        } else {
          expect(lines).toEqual([
            'put acme/api/prod https://a.example rev 7',
            'bookmark 9 snapshot',
            'put acme/api/prod https://b.example rev 10',
            'delete acme/api/prod rev 11',
            'bookmark 11',
            'put acme/api/prod https://c.example rev 12',
            'bookmark 12',
            'put acme/api/prod https://d.example rev 25',
            'bookmark 30 snapshot',
          ]);
        }
        expect(stderr).toMatch(/^tm: watch acme: the stream ended; reconnecting in \d+ ms\ntm: watch acme: the stream ended; reconnecting in \d+ ms\ntm: 410 Gone: history compacted; taking a new snapshot\ntm: 410 Gone: history compacted; reconnecting in 0 ms\n$/);
      }
    }
  }, 120_000);
});
