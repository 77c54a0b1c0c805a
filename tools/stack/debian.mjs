// The Debian tools the bench and the tests need (wrk, etcd-server; chromium for the console's browser
// tests): installed with apt-get when missing, one clear line when that cannot be done.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A failure worth one line: what is missing and how to get it. */
export class ToolError extends Error {}

/**
 * @param {string} command
 * @param {string[]} args
 */
function run(command, args) {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return { ok: r.status === 0, error: (r.stderr ?? r.error?.message ?? '').trim().split('\n').pop() ?? '' };
}

/**
 * `path` (Debian's `pkg` installs it): installed with `apt-get install -y pkg` when missing (after
 * `apt-get update` if the first try fails); a ToolError when it still is not there.
 * @param {string} path
 * @param {string} pkg
 * @param {(line: string) => void} say
 * @param {string} [purpose] what needs it, for the error line
 */
export function debianTool(path, pkg, say, purpose = 'to run the bench') {
  if (existsSync(path)) return path;
  say(`${path} is missing: apt-get install -y ${pkg}`);
  const install = ['install', '-y', '-q', '--no-install-recommends', pkg];
  let r = run('apt-get', install);
  if (!r.ok) {
    run('apt-get', ['update', '-q']);
    r = run('apt-get', install);
  }
  if (!existsSync(path)) {
    throw new ToolError(`${path} is missing and "apt-get install -y ${pkg}" failed (${r.error || 'no apt-get here?'}): install Debian's ${pkg} (as root) ${purpose}`);
  }
  return path;
}
