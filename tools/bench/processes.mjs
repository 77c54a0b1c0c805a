// Processes the bench starts: the stack (tools/stack/start.mjs, what `npm start` runs), the
// baseline server and a resolver with Redis down. Each runs detached (a process group of its own,
// so a terminal's Ctrl-C reaches it only through the bench, which stops it in order) with its
// output in a log file, and is stopped by its pid: SIGTERM, then SIGKILL of its group after a grace.
import { execFileSync, fork, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/**
 * A message over IPC from one of the bench's child scripts: plain JSON whose shape each script's
 * protocol sets (its readers check the fields they use), so `any` by design.
 * @typedef {Record<string, any>} Message
 */
/** @typedef {ReturnType<typeof spawnLogged>} Logged */
/** @typedef {ReturnType<typeof forkClients>} Clients */

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * A TCP port nothing listens on right now (the kernel's choice), and one free for both UDP and TCP (a
 * DNS server's): the test harness's, one function for both.
 */
export { freeDnsPort, freePort } from '../../libs/testing/src/lib/free-port.js';

/**
 * @param {string} file
 * @param {number} [lines]
 */
export function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * A detached child writing to `logFile`; `stop()` ends it and whatever it left in its group.
 * @param {string} name
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, logFile: string }} options
 */
export function spawnLogged(name, command, args, { cwd, env, logFile }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  /** @type {Promise<{ code: number | null, signal: NodeJS.Signals | null }>} */
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.once('error', () => undefined);
  // A spawn that failed has no pid (its 'error' said why): nothing to signal then.
  const pid = child.pid;
  /** @type {Promise<{ code: number | null, signal: NodeJS.Signals | null }> | undefined} */
  let stopping;
  return {
    name,
    child,
    logFile,
    exited,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    /** SIGTERM; after `graceMs` SIGKILL to its whole process group. Resolves once it exited. */
    stop(graceMs = 15_000) {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return exited;
        signal(pid, 'SIGTERM');
        const timer = setTimeout(() => signal(pid, 'SIGKILL', { group: true }), graceMs);
        const result = await exited;
        clearTimeout(timer);
        // Anything it started and left behind in its group (it should have stopped them itself).
        // A group id is not reused while the group has members, so this reaches only those.
        if (pid !== undefined && groupMembers(pid).length) signal(pid, 'SIGKILL', { group: true });
        return result;
      })();
      return stopping;
    },
    /** At once: SIGKILL to its group (a second Ctrl-C, or the bench's own exit). */
    kill() {
      signal(pid, 'SIGKILL', { group: true });
    },
  };
}

/**
 * The live processes (zombies left out): { pid, pgid, args }.
 * @returns {Array<{ pid: number, pgid: number, args: string }>}
 */
function processes() {
  let out;
  try {
    out = execFileSync('ps', ['-eo', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(l))
    .filter((m) => m !== null)
    .filter((m) => !m[3].startsWith('Z') && Number(m[1]) !== process.pid)
    .map((m) => ({ pid: Number(m[1]), pgid: Number(m[2]), args: m[4] }));
}

/**
 * Pids of the live processes in process group `pgid`.
 * @param {number} pgid
 */
export function groupMembers(pgid) {
  return processes()
    .filter((p) => p.pgid === pgid)
    .map((p) => p.pid);
}

/**
 * `name` to process `pid`, or with `group` to its process group; nothing when there is no pid.
 * @param {number | undefined} pid
 * @param {NodeJS.Signals} name
 * @param {{ group?: boolean }} [options]
 */
function signal(pid, name, { group = false } = {}) {
  if (pid === undefined) return;
  try {
    process.kill(group ? -pid : pid, name);
  } catch {
    // already gone
  }
}

/** A wait that ended without what it waited for (the message says what and why). */
export class WaitError extends Error {}

/**
 * Polls `check` until it returns a truthy value; fails when `child` exits or time runs out.
 * @template T
 * @param {string} what
 * @param {() => T | Promise<T>} check
 * @param {{ timeoutMs?: number, intervalMs?: number, proc?: Logged, shouldStop?: () => boolean }} [options]
 * @returns {Promise<T>}
 */
export async function waitFor(what, check, { timeoutMs = 60_000, intervalMs = 200, proc, shouldStop = () => false } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (shouldStop()) throw new WaitError('interrupted');
    if (proc && !proc.running) {
      throw new WaitError(`${proc.name} exited while waiting for ${what}; the end of ${proc.logFile}:\n${tail(proc.logFile)}`);
    }
    try {
      const value = await check();
      if (value) return value;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new WaitError(`${what}: not within ${Math.round(timeoutMs / 1000)} s${proc ? `; the end of ${proc.logFile}:\n${tail(proc.logFile)}` : ''}`);
    await sleep(intervalMs);
  }
}

/** @param {string} url */
export async function httpOk(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status === 200;
}

/**
 * `pid args` of the live processes whose command line contains one of `needles`, or whose pid is in `pids`.
 * @param {string[]} needles
 * @param {Set<number>} [pids]
 */
export function processesMatching(needles, pids = new Set()) {
  return processes()
    .filter((p) => pids.has(p.pid) || needles.some((n) => p.args.includes(n)))
    .map((p) => `${p.pid} ${p.args}`);
}

/**
 * A Node script of the bench's own in a child process (its output in `logFile`) that talks over IPC:
 * `next(test, timeoutMs)` waits for the first message `test` accepts (kept messages included), and
 * fails on a message with `error`, on the child's exit or after the timeout.
 * @param {string} script
 * @param {string[]} args
 * @param {string} logFile
 */
export function forkClients(script, args, logFile) {
  const fd = openSync(logFile, 'a');
  const child = fork(script, args, { stdio: ['ignore', fd, fd, 'ipc'] });
  closeSync(fd);
  /** @type {Message[]} */
  const messages = [];
  /** @type {(() => void) | undefined} */
  let wake;
  child.on('message', (m) => {
    messages.push(/** @type {Message} */ (m));
    wake?.();
  });
  return {
    child,
    /** @param {Message} m */
    send: (m) => child.send(m),
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
    /**
     * @param {(m: Message) => boolean} test
     * @param {number} timeoutMs
     * @returns {Promise<Message>}
     */
    async next(test, timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const at = messages.findIndex(test);
        if (at >= 0) return messages.splice(at, 1)[0];
        const error = messages.find((m) => m.error);
        if (error) throw new Error(error.error);
        if (child.exitCode !== null) throw new Error(`${script} exited (${child.exitCode}); its log: ${logFile}`);
        if (performance.now() > deadline) throw new Error(`${script} did not answer in time; its log: ${logFile}`);
        await new Promise((r) => {
          wake = () => r(undefined);
          setTimeout(r, 200);
        });
      }
    },
  };
}
