import type { OutboxRow } from './history';
import type { WatcherLog, WatchSegment } from './watchers';

/** A finding about one watcher: the watch's rules (docs/guarantees.md, "Watch") broken. */
export interface WatchFinding {
  watcher: string;
  message: string;
}

/** What the watchers did, for the report. */
export interface WatchSummary {
  watcher: string;
  connections: number;
  snapshots: number;
  changes: number;
  bookmarks: number;
  compacted: number;
  refused: string;
  /** The revision of its last bookmark. */
  lastBookmark: number;
}

const tenantOf = (key: string): string => key.slice(0, key.indexOf('/'));

/**
 * Checks each watcher's record against the outbox (every committed change, in revision order):
 * a snapshot is exactly the state as of its revision; within a connection, changes come in strictly
 * increasing revision, each the outbox row of that revision and of the watcher's filter, with none of
 * the filter's rows skipped; a bookmark at R comes only after every matching change up to R, and
 * never below an id already sent; a resume gets only changes after its Last-Event-ID. After the drain
 * every watcher has a bookmark at the store's last revision (it caught up), but those whose key was
 * revoked (`revoked`: their `credential`s): they are refused from then on.
 */
export function checkWatchers(logs: WatcherLog[], outbox: OutboxRow[], revoked: ReadonlySet<string> = new Set()): WatchFinding[] {
  const byRevision = new Map(outbox.map((r) => [r.revision, r]));
  const last = outbox.reduce((m, r) => Math.max(m, r.revision), 0);
  const findings: WatchFinding[] = [];
  for (const log of logs) {
    const inFilter = (row: OutboxRow): boolean => log.tenant === null || tenantOf(row.key) === log.tenant;
    const matches = (row: OutboxRow | undefined): boolean => row !== undefined && inFilter(row);
    const report = (segment: number, message: string) => findings.push({ watcher: log.name, message: `connection ${segment + 1}: ${message}` });
    let caughtUp = -1;
    log.segments.forEach((segment, i) => {
      let position: number;
      if (segment.since !== undefined) position = segment.since;
      else if (segment.snapshot) {
        position = segment.snapshot.asOf;
        for (const problem of snapshotProblems(segment, outbox, log.tenant)) report(i, problem);
      } else {
        if (segment.frames.length > 0) report(i, `${segment.frames.length} frames with ids before the snapshot's bookmark`);
        return;
      }
      caughtUp = Math.max(caughtUp, position);
      let lastId = position;
      for (const frame of segment.frames) {
        if (frame.kind === 'change') {
          if (frame.revision <= lastId) {
            report(i, `change ${frame.revision} after id ${lastId} (a repeat or out of order)`);
            continue;
          }
          for (let r = lastId + 1; r < frame.revision; r++) if (matches(byRevision.get(r))) report(i, `change ${r} skipped (next came ${frame.revision})`);
          const row = byRevision.get(frame.revision);
          if (!row) report(i, `change ${frame.revision} is no committed write`);
          else if (!inFilter(row)) report(i, `change ${frame.revision} of ${row.key} is outside the filter`);
          else if (row.key !== frame.key || row.deleted !== frame.deleted || (!row.deleted && row.url !== frame.url) || row.eventId !== frame.eventId) {
            report(i, `change ${frame.revision} is ${frame.key} ${frame.deleted ? 'deleted' : frame.url}, the outbox has ${row.key} ${row.deleted ? 'deleted' : row.url}`);
          }
          lastId = frame.revision;
        } else {
          if (frame.revision < lastId) {
            report(i, `bookmark ${frame.revision} after id ${lastId}`);
            continue;
          }
          for (let r = lastId + 1; r <= frame.revision; r++) if (matches(byRevision.get(r))) report(i, `bookmark ${frame.revision} covers change ${r}, not sent`);
          lastId = frame.revision;
        }
        caughtUp = Math.max(caughtUp, lastId);
      }
    });
    if (caughtUp < last && !(log.credential !== undefined && revoked.has(log.credential))) findings.push({ watcher: log.name, message: `its last bookmark is at ${caughtUp}, the store at ${last} after the drain` });
  }
  return findings;
}

/** The snapshot against the outbox's state as of its revision, for the watcher's filter. */
function snapshotProblems(segment: WatchSegment, outbox: OutboxRow[], tenant: string | null): string[] {
  const snapshot = segment.snapshot;
  if (!snapshot) return [];
  const expected = new Map<string, { url: string; revision: number }>();
  for (const row of outbox) {
    if (row.revision > snapshot.asOf) break;
    if (tenant !== null && tenantOf(row.key) !== tenant) continue;
    if (row.deleted) expected.delete(row.key);
    else expected.set(row.key, { url: row.url ?? '', revision: row.revision });
  }
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const r of snapshot.routes) {
    if (seen.has(r.key)) problems.push(`snapshot at ${snapshot.asOf} has ${r.key} twice`);
    seen.add(r.key);
    const want = expected.get(r.key);
    if (!want) problems.push(`snapshot at ${snapshot.asOf} has ${r.key}, which did not exist then`);
    else if (want.url !== r.url || want.revision !== r.revision) problems.push(`snapshot at ${snapshot.asOf} has ${r.key} ${r.url} (revision ${r.revision}), the outbox ${want.url} (revision ${want.revision})`);
  }
  for (const key of expected.keys()) if (!seen.has(key)) problems.push(`snapshot at ${snapshot.asOf} lacks ${key}`);
  return problems;
}

export function summarizeWatchers(logs: WatcherLog[]): WatchSummary[] {
  return logs.map((log) => {
    const frames = log.segments.flatMap((s) => s.frames);
    return {
      watcher: log.name,
      connections: log.segments.length,
      snapshots: log.segments.filter((s) => s.snapshot).length,
      changes: frames.filter((f) => f.kind === 'change').length,
      bookmarks: frames.filter((f) => f.kind === 'bookmark').length,
      compacted: log.compacted,
      refused: Object.entries(log.refused)
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
      lastBookmark: frames.reduce((m, f) => (f.kind === 'bookmark' ? Math.max(m, f.revision) : m), -1),
    };
  });
}
