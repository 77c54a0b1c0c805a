import type { ChangeSetResult, Conflict, HistoryEntry, Propagation, TrafficManagerClient } from '@traffic-manager/client';
import { arity, ExitWith, EXIT, out, UsageError, warn, type Config } from './io';

/** `tm history`, `tm rollback`, `tm revert`, `tm status`, and how a change set's answer and its propagation are printed. */

const HISTORY_DEFAULT = 20;

export function revisionArg(value: string | undefined, what: string): number {
  if (value === undefined || !/^\d{1,15}$/.test(value) || Number(value) < 1) throw new UsageError(`${what} must be a revision: a whole number of 1 or more`);
  return Number(value);
}

/** The lines of a change set's answer: one per change, then the set's revision. */
export function changeSetLines(result: ChangeSetResult): string[] {
  const lines = result.changes.map((c) => `${c.result} ${c.route}${c.revision === null ? '' : ` rev ${c.revision}`}`);
  const changed = result.changes.filter((c) => c.result !== 'unchanged').length;
  lines.push(changed === 0 ? `nothing changed (store at rev ${result.revision})` : `change set rev ${result.revision}: ${changed} route(s) changed`);
  return lines;
}

/** A propagation in one line: `in-sync` or `pending`, and what holds it back. */
export function propagationLine(p: Propagation): string {
  const live = p.resolvers.filter((r) => r.live);
  const holding = live.filter((r) => r.feedRevision >= p.revision).length;
  return `revision ${p.revision} ${p.status}: published ${p.published ? 'yes' : 'no'}, cache applied ${p.cacheApplied ? 'yes' : 'no'}, resolvers ${holding}/${live.length} live at it${
    p.resolvers.length > live.length ? ` (${p.resolvers.length - live.length} not live)` : ''
  }`;
}

export function conflictLine(c: Conflict): string {
  const expected = c.expected === null ? 'absent' : `at rev ${c.expected}`;
  const actual = c.actual === null ? 'absent' : `at rev ${c.actual}`;
  return `conflict: ${c.route} expected ${expected}, now ${actual}`;
}

/** Prints a write's answer; a write that waited and is still pending says so on stderr (it is committed: exit 0). */
export function printChangeSet(result: ChangeSetResult, config: Config): void {
  if (config.json) {
    out(JSON.stringify(result));
  } else {
    for (const line of changeSetLines(result)) out(line);
    if (result.propagation) out(propagationLine(result.propagation));
  }
  if (result.propagation?.status === 'pending') warn(`revision ${result.revision} is committed but not yet in sync everywhere (tm status ${result.revision} --wait)`);
}

function historyLine(e: HistoryEntry): string {
  const by = e.by === null ? 'unknown' : 'admin' in e.by ? 'admin' : e.by.keyName;
  const what = e.route === null ? '' : ` ${e.route.url}${e.route.endpoints && e.route.endpoints.length > 1 ? ` (${e.route.endpoints.length} endpoints)` : ''}`;
  const set = e.changeSetSize !== null && e.changeSetSize > 1 ? ` (a set of ${e.changeSetSize})` : '';
  const why = e.description ? ` "${e.description.replace(/\s+/g, ' ')}"` : '';
  return `rev ${e.revision} ${e.at} ${e.op}${what} by ${by}${set}${why}`;
}

export async function history(client: TrafficManagerClient, args: string[], config: Config): Promise<void> {
  arity(args, 1, 1, 'history T/S/E [--limit N]');
  let left = config.limit ?? HISTORY_DEFAULT;
  if (left < 1) throw new UsageError('--limit must be 1 or more');
  let cursor: string | null = null;
  do {
    const page = await client.history(args[0] as string, { limit: Math.min(left, 500), cursor });
    for (const item of page.items.slice(0, left)) out(config.json ? JSON.stringify(item) : historyLine(item));
    left -= page.items.length;
    cursor = page.nextCursor;
  } while (cursor !== null && left > 0);
}

export async function rollback(client: TrafficManagerClient, args: string[], config: Config): Promise<void> {
  arity(args, 1, 1, 'rollback T/S/E --to R [--if-match REV]');
  if (config.to === undefined) throw new UsageError('rollback needs --to R: the revision to go back to');
  const result = await client.rollback(args[0] as string, revisionArg(String(config.to), '--to'), { ifRevision: config.ifMatch, wait: config.wait, waitTimeoutMs: config.waitTimeoutMs });
  printChangeSet(result, config);
}

export async function revert(client: TrafficManagerClient, args: string[], config: Config): Promise<void> {
  arity(args, 1, 1, 'revert R');
  const result = await client.revert(revisionArg(args[0], 'R'), { wait: config.wait, waitTimeoutMs: config.waitTimeoutMs });
  printChangeSet(result, config);
}

/** `tm status R [--wait]`: exit 0 when the revision is in sync; with --wait, 1 when it still is not when the wait ends. */
export async function status(client: TrafficManagerClient, args: string[], config: Config): Promise<void> {
  arity(args, 1, 1, 'status R [--wait]');
  const p = await client.status(revisionArg(args[0], 'R'), { wait: config.wait, waitTimeoutMs: config.waitTimeoutMs });
  if (config.json) out(JSON.stringify(p));
  else {
    out(propagationLine(p));
    for (const r of p.resolvers) out(`  resolver ${r.replica} at rev ${r.feedRevision}${r.live ? '' : ' (not live)'} seen ${r.seenAt}`);
  }
  if (config.wait && p.status !== 'in-sync') {
    warn(`revision ${p.revision} is not in sync after the wait`);
    throw new ExitWith(EXIT.failure);
  }
}
