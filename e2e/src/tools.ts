import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** The repository's root. */
export const ROOT = join(__dirname, '..', '..');

export interface Tool {
  ok: boolean;
  stdout: string;
  stderr: string;
  /** The command is not installed. */
  missing: boolean;
}

/** Runs a command to its end (from the repository's root unless `cwd`), with `input` on stdin. */
export function run(command: string, args: string[], input?: string, cwd = ROOT): Tool {
  const r = spawnSync(command, args, { cwd, input, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 300_000 });
  const missing = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '', missing };
}

/** A Debian tool: installed with apt-get when missing (CI runs as root); one clear line otherwise. */
export function debianTool(command: string, pkg: string): void {
  if (!run(command, ['--version']).missing) return;
  const install = ['install', '-y', '-q', '--no-install-recommends', pkg];
  if (!run('apt-get', install).ok) {
    run('apt-get', ['update', '-q']);
    const second = run('apt-get', install);
    if (!second.ok) throw new Error(`${command} not found and \`apt-get install ${pkg}\` failed: ${second.stderr.trim().split('\n').pop() ?? ''}`);
  }
}
