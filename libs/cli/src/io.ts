/** What every command of `tm` shares: its exit codes, its errors and where it writes. */

export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3, planNotEmpty: 4 } as const;

/** Exit 2: the command line or an input file is wrong (nothing was sent). */
export class UsageError extends Error {}
/** Exit 3. */
export class NotFound extends Error {}
/** Exit 1, with lines already written to stderr: the message is the last of them. */
export class Failure extends Error {}
/** Exit with `code` (such as 4: the plan is not empty), having printed what there was to say. */
export class ExitWith extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export interface Config {
  commandUrl: string;
  resolverUrl: string;
  apiKey: string | undefined;
  timeoutMs: number;
  json: boolean;
  minRevision: number | undefined;
  strong: boolean;
  affinity: string | undefined;
  file: string | undefined;
  limit: number | undefined;
  to: number | undefined;
  ifMatch: number | undefined;
  wait: boolean;
  waitTimeoutMs: number | undefined;
  prune: boolean;
  dryRun: boolean;
  exitCode: boolean;
  /** tenant: `--dns on|off`. */
  dns: boolean | undefined;
  /** tenant: `--display-name NAME` ('' clears it). */
  displayName: string | undefined;
}

export function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function warn(line: string): void {
  process.stderr.write(`tm: ${line}\n`);
}

export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export function arity(args: string[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) throw new UsageError(`usage: tm ${usage}`);
}
