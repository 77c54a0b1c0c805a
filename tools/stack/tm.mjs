// `npm run tm -- <command>`: the `tm` CLI of this checkout. Unless dist is newer than every source
// it is built from, builds it (and the SDK) with Nx quietly: the build's output is kept and shown
// only when the build fails. Then runs dist/libs/cli/cli.js with the arguments: tm's own output,
// stdin, and exit code (or signal) passed through. (`npm run -s tm` also drops npm's own banner.)
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const outputs = [join(repo, 'dist', 'libs', 'cli', 'cli.js'), join(repo, 'dist', 'libs', 'client', 'index.js')];

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The newest modification time of the sources the packages are built from (every lib, their configuration). */
function newestSource() {
  let newest = Math.max(...['package-lock.json', 'tsconfig.base.json'].map((f) => mtime(join(repo, f)) ?? Infinity));
  for (const entry of readdirSync(join(repo, 'libs'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) newest = Math.max(newest, mtime(join(entry.parentPath ?? entry.path, entry.name)) ?? Infinity);
  }
  return newest;
}

const oldestOutput = Math.min(...outputs.map((f) => mtime(f) ?? -Infinity));
const built = oldestOutput > newestSource() ? { status: 0 } : spawnSync(process.execPath, [join(repo, 'node_modules', '.bin', 'nx'), 'build', 'cli', '--output-style=static'], {
  cwd: repo,
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
});
if (built.status !== 0) {
  process.stderr.write(`${built.stdout ?? ''}${built.stderr ?? ''}`);
  process.stderr.write(`tm: building the CLI failed (${built.error?.message ?? `exit ${built.status ?? built.signal}`})\n`);
  process.exit(1);
}
const child = spawn(process.execPath, [join(repo, 'dist', 'libs', 'cli', 'cli.js'), ...process.argv.slice(2)], { stdio: 'inherit' });
// Ctrl-C reaches tm itself (same process group); the launcher waits for it to finish.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
