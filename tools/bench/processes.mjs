// Processes the bench starts: the stack (tools/stack/start.mjs, what `npm start` runs), the
// baseline server and a resolver with Redis down. Each runs detached (a process group of its own,
// so a terminal's Ctrl-C reaches it only through the bench, which stops it in order) with its
// output in a log file, and is stopped by its pid: SIGTERM, then SIGKILL of its group after a grace.
import { execFileSync, fork, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port nothing listens on right now (the kernel's choice): the test harness's, one function for both. */
export { freePort } from '../../libs/testing/src/lib/free-port.js';

export function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** A detached child writing to `logFile`; `stop()` ends it and whatever it left in its group. */
export function spawnLogged(name, command, args, { cwd, env, logFile }) {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.once('error', () => undefined);
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
        signal(child.pid, 'SIGTERM');
        const timer = setTimeout(() => signal(-child.pid, 'SIGKILL'), graceMs);
        const result = await exited;
        clearTimeout(timer);
        // Anything it started and left behind in its group (it should have stopped them itself).
        // A group id is not reused while the group has members, so this reaches only those.
        if (groupMembers(child.pid).length) signal(-child.pid, 'SIGKILL');
        return result;
      })();
      return stopping;
    },
    /** At once: SIGKILL to its group (a second Ctrl-C, or the bench's own exit). */
    kill() {
      signal(-child.pid, 'SIGKILL');
    },
  };
}

/** The live processes (zombies left out): { pid, pgid, args }. */
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
    .filter((m) => m && !m[3].startsWith('Z') && Number(m[1]) !== process.pid)
    .map((m) => ({ pid: Number(m[1]), pgid: Number(m[2]), args: m[4] }));
}

/** Pids of the live processes in process group `pgid`. */
export function groupMembers(pgid) {
  return processes()
    .filter((p) => p.pgid === pgid)
    .map((p) => p.pid);
}

function signal(pid, name) {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** A wait that ended without what it waited for (the message says what and why). */
export class WaitError extends Error {}

/** Polls `check` until it returns a truthy value; fails when `child` exits or time runs out. */
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

export async function httpOk(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
  await res.arrayBuffer();
  return res.status === 200;
}

/** `pid args` of the live processes whose command line contains one of `needles`, or whose pid is in `pids`. */
export function processesMatching(needles, pids = new Set()) {
  return processes()
    .filter((p) => pids.has(p.pid) || needles.some((n) => p.args.includes(n)))
    .map((p) => `${p.pid} ${p.args}`);
}

/**
 * A Node script of the bench's own in a child process (its output in `logFile`) that talks over IPC:
 * `next(test, timeoutMs)` waits for the first message `test` accepts (kept messages included), and
 * fails on a message with `error`, on the child's exit or after the timeout.
 */
export function forkClients(script, args, logFile) {
  const fd = openSync(logFile, 'a');
  const child = fork(script, args, { stdio: ['ignore', fd, fd, 'ipc'] });
  closeSync(fd);
  const messages = [];
  let wake;
  child.on('message', (m) => {
    messages.push(m);
    wake?.();
  });
  return {
    child,
    send: (m) => child.send(m),
    kill: () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
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
          wake = r;
          setTimeout(r, 200);
        });
      }
    },
  };
}
