import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's dig (bind9-dnsutils): `npm test` installs it and names it in TM_TEST_DIG. */
export const DIG = process.env['TM_TEST_DIG'] ?? 'dig';

/** What dig printed, read: the status, the header's flags and each section's records (one line each, fields split). */
export interface Dug {
  status: string;
  flags: string[];
  answer: string[][];
  authority: string[][];
  additional: string[][];
  text: string;
}

export function readDig(text: string): Dug {
  const status = /status: ([A-Z]+)/.exec(text)?.[1] ?? 'none';
  const flags = (/;; flags: ([a-z ]+);/.exec(text)?.[1] ?? '').trim().split(/\s+/);
  const section = (name: string) => {
    const start = text.indexOf(`;; ${name} SECTION:`);
    if (start < 0) return [];
    const lines = text.slice(start).split('\n').slice(1);
    const end = lines.findIndex((l) => l.trim() === '');
    return lines.slice(0, end < 0 ? undefined : end).filter((l) => !l.startsWith(';')).map((l) => l.trim().split(/\s+/));
  };
  return { status, flags, answer: section('ANSWER'), authority: section('AUTHORITY'), additional: section('ADDITIONAL'), text };
}

/** Asks the DNS server on 127.0.0.1:`port` with dig (`args`: its options, the name, the type). */
export async function dig(port: number, ...args: string[]): Promise<Dug> {
  const { stdout } = await run(DIG, ['@127.0.0.1', '-p', String(port), '+time=3', '+tries=2', ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return readDig(stdout);
}

/** Runs dig with `args` as they are (a batch: `-f FILE`), and gives what it printed. */
export async function digRaw(args: string[], timeoutMs: number): Promise<string> {
  return (await run(DIG, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 })).stdout;
}
