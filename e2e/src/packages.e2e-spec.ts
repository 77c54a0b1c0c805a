import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApiKey, packagesAndNodes, REPO_ROOT, repoBin, runCommand, TEST_ADMIN_TOKEN, TestStack, type NodeBinary, type PackedPackages, type Ran } from '@tm/testing';

/**
 * The packages as users install them (the SDK's and the CLI's tarballs in an empty project) against
 * the real apps: a CommonJS script, an ES module, and TypeScript compiled by tsc (node16 and bundler
 * resolution, strict with exactOptionalPropertyTypes), each putting and resolving a route, on the
 * oldest Node the packages support and on this one; `tm` with the key from TM_API_KEY and from
 * --api-key-file; `tm watch` resuming after the resolver restarts.
 */
const consumer = (kind: string) => `
const tm = new TrafficManagerClient({
  resolverUrl: process.env.TM_RESOLVER_URL ?? '',
  commandUrl: process.env.TM_COMMAND_URL,
  apiKey: process.env.TM_API_KEY,
  timeoutMs: 5000,
});
const route = \`pkg/\${process.env.SERVICE}/prod\`;
const session = tm.session();
const written = await session.put(route, { url: 'https://${kind}.example' });
const answer = await session.resolve(route);
console.log('${kind}', answer?.url, answer !== null && answer.revision === written.revision);
await tm.close();
`;

const typescriptConsumer = `import { TrafficManagerClient, type TrafficManagerClientOptions } from '@traffic-manager/client';

const options: TrafficManagerClientOptions = {
  resolverUrl: process.env['TM_RESOLVER_URL'] ?? '',
  commandUrl: process.env['TM_COMMAND_URL'],
  apiKey: process.env['TM_API_KEY'],
  timeoutMs: 5000,
};

async function main(): Promise<void> {
  const tm = new TrafficManagerClient(options);
  const route = \`pkg/\${process.env['SERVICE']}/prod\`;
  const session = tm.session();
  const written = await session.put(route, { url: 'https://ts.example' });
  const answer = await session.resolve(route, { minRevision: undefined, affinity: undefined });
  console.log('ts', answer?.url, answer !== null && answer.revision === written.revision);
  await tm.close();
}

void main();
`;

describe('the installed packages against the stack', () => {
  let stack: TestStack;
  let packed: PackedPackages;
  let nodes: NodeBinary[];
  let key: string;
  let env: NodeJS.ProcessEnv;
  let service = 0;

  beforeAll(async () => {
    // One after the other: building and packing beside the apps' start could delay them past their readiness timeout.
    ({ packed, nodes } = await packagesAndNodes());
    stack = await TestStack.start({ env: { WATCH_BOOKMARK_INTERVAL_MS: '1000' } });
    const commandUrl = stack.app('command-api').url;
    await fetch(`${commandUrl}/v1/tenants`, { method: 'POST', headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ slug: 'pkg' }) });
    key = await createApiKey(commandUrl, { name: 'packages', tenant: 'pkg', scopes: ['routes:write'] });
    env = { ...process.env, TM_COMMAND_URL: commandUrl, TM_RESOLVER_URL: stack.app('resolver').url, TM_API_KEY: key };
  }, 600_000);

  afterAll(async () => {
    await stack?.stop();
    packed?.remove();
  });

  const inProject = (node: NodeBinary, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<Ran> =>
    runCommand(node.path, args, { cwd: packed.project, env: { ...env, SERVICE: `s${++service}`, ...extra }, timeoutMs: 60_000 });

  it('a CommonJS script and an ES module put and resolve a route, on each Node', async () => {
    writeFileSync(join(packed.project, 'consumer.cjs'), `const { TrafficManagerClient } = require('@traffic-manager/client');\n(async () => {${consumer('cjs')}})();\n`);
    writeFileSync(join(packed.project, 'consumer.mjs'), `import { TrafficManagerClient } from '@traffic-manager/client';\n${consumer('esm')}`);
    for (const node of nodes) {
      expect({ node: node.version, ...(await inProject(node, ['consumer.cjs'])) }).toEqual({ node: node.version, code: 0, signal: null, stdout: 'cjs https://cjs.example true\n', stderr: '' });
      expect({ node: node.version, ...(await inProject(node, ['consumer.mjs'])) }).toEqual({ node: node.version, code: 0, signal: null, stdout: 'esm https://esm.example true\n', stderr: '' });
    }
  }, 180_000);

  it('TypeScript compiles under node16 and bundler resolution (strict, exactOptionalPropertyTypes) and runs, on each Node', async () => {
    const tsc = repoBin('tsc');
    const base = { strict: true, exactOptionalPropertyTypes: true, target: 'es2022', skipLibCheck: false, types: ['node'], typeRoots: [join(REPO_ROOT, 'node_modules', '@types')] };
    const settings = {
      node16: { ...base, module: 'node16', moduleResolution: 'node16' },
      bundler: { ...base, module: 'es2022', moduleResolution: 'bundler' },
    };
    for (const [name, compilerOptions] of Object.entries(settings)) {
      const dir = join(packed.project, `ts-${name}`);
      mkdirSync(join(dir, 'out'), { recursive: true });
      writeFileSync(join(dir, 'consumer.ts'), typescriptConsumer);
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...compilerOptions, outDir: 'out', rootDir: '.' }, files: ['consumer.ts'] }));
      // bundler: the output is an ES module.
      if (name === 'bundler') writeFileSync(join(dir, 'out', 'package.json'), JSON.stringify({ type: 'module' }));
      const compiled = await runCommand(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir, timeoutMs: 120_000 });
      expect({ name, ...compiled }).toEqual({ name, code: 0, signal: null, stdout: '', stderr: '' });
      for (const node of nodes) {
        expect({ name, node: node.version, ...(await inProject(node, [join(dir, 'out', 'consumer.js')])) }).toEqual({
          name,
          node: node.version,
          code: 0,
          signal: null,
          stdout: 'ts https://ts.example true\n',
          stderr: '',
        });
      }
    }
  }, 300_000);

  it('tm --version, and tm put and resolve with the key from TM_API_KEY and from --api-key-file', async () => {
    const cli = join(packed.project, 'node_modules', '.bin', 'tm');
    expect(await runCommand('npx', ['--offline', 'tm', '--version'], { cwd: packed.project, env })).toMatchObject({ code: 0, stdout: 'tm 0.2.0 (@traffic-manager/client 0.2.0)\n' });
    const keyFile = join(packed.project, 'tm-key');
    writeFileSync(keyFile, `${key}\n`);
    const { TM_API_KEY: _fromEnv, ...withoutKey } = env;
    for (const node of nodes) {
      const put = await inProject(node, [cli, 'put', `pkg/cli${node.version.replace(/\W/g, '')}/prod`, 'https://cli.example']);
      expect(put).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^created pkg\/cli\w+\/prod https:\/\/cli\.example rev \d+\n$/) as string });
      const resolved = await runCommand(node.path, [cli, 'resolve', `pkg/cli${node.version.replace(/\W/g, '')}/prod`, '--api-key-file', keyFile], { cwd: packed.project, env: withoutKey });
      expect(resolved).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^https:\/\/cli\.example rev \d+ as-of \d+ age \d+s\n$/) as string });
      // Without a key the resolver refuses: the key did come from the file.
      expect(await runCommand(node.path, [cli, 'resolve', 'pkg/x/prod'], { cwd: packed.project, env: withoutKey })).toMatchObject({ code: 1, stderr: expect.stringContaining('401') as string });
    }
  }, 180_000);

  it('tm watch prints the changes, resumes after the resolver restarts, and ends with 0 on SIGINT', async () => {
    const node = nodes.at(-1) as NodeBinary;
    const watcher = spawn(node.path, [join(packed.project, 'node_modules', '@traffic-manager', 'cli', 'cli.js'), 'watch', 'pkg'], { cwd: packed.project, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    watcher.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    watcher.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => watcher.on('close', (code, signal) => resolve({ code, signal })));
    const until = async (what: string, predicate: () => boolean): Promise<void> => {
      const end = Date.now() + 60_000;
      while (!predicate()) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}; stdout: ${stdout}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const put = (service: string, url: string): Promise<Ran> => runCommand(node.path, [join(packed.project, 'node_modules', '.bin', 'tm'), 'put', `pkg/${service}/prod`, url], { cwd: packed.project, env });
    try {
      await until('the snapshot', () => /^bookmark \d+ snapshot$/m.test(stdout));
      expect((await put('before', 'https://before.example')).code).toBe(0);
      await until('the change before the restart', () => stdout.includes('put pkg/before/prod https://before.example rev '));
      await stack.restart('resolver');
      // Written while the watch may still be reconnecting: the resume delivers it.
      expect((await put('after', 'https://after.example')).code).toBe(0);
      await until('the change after the restart', () => stdout.includes('put pkg/after/prod https://after.example rev '));
    } finally {
      watcher.kill('SIGINT');
    }
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(stderr).toMatch(/reconnecting in \d+ ms/);
    // Resumed, not started again: one snapshot, and each change once.
    expect(stdout.match(/snapshot$/gm)).toHaveLength(1);
    expect(stdout.match(/^put pkg\/before\/prod /gm)).toHaveLength(1);
    expect(stdout.match(/^put pkg\/after\/prod /gm)).toHaveLength(1);
  }, 180_000);
});
