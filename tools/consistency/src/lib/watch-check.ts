import type { OutboxRow } from './history';
import type { WatcherLog, WatchFrame, WatchSegment } from './watchers';

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

type ChangeFrame = Extract<WatchFrame, { kind: 'change' }>;

/** The outbox's rows by revision (a change set's revision holds one per route it changed), each revision's in route-key order. */
export function rowsByRevision(outbox: OutboxRow[]): Map<number, OutboxRow[]> {
  const byRevision = new Map<number, OutboxRow[]>();
  for (const r of outbox) byRevision.set(r.revision, [...(byRevision.get(r.revision) ?? []), r]);
  for (const rows of byRevision.values()) rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return byRevision;
}

/**
 * Checks each watcher's record against the outbox (every committed change, in revision order):
 * a snapshot is exactly the state as of its revision; within a connection, revisions come in
 * strictly increasing order, none of the filter's skipped, each whole and together: its frames back
 * to back (no bookmark, no frame of another revision between them), exactly the outbox's rows of
 * that revision in the watcher's filter (its share of a change set), in route-key order, only the
 * last carrying the `id` line, every one's `changesetsize` the revision's row count; a bookmark at R
 * comes only after every matching change up to R, never below an id already sent, never inside a
 * revision; a resume gets only changes after its Last-Event-ID. After the drain every watcher has a
 * bookmark at the store's last revision (it caught up), but those whose key was revoked (`revoked`:
 * their `credential`s): they are refused from then on.
 */
export function checkWatchers(logs: WatcherLog[], outbox: OutboxRow[], revoked: ReadonlySet<string> = new Set()): WatchFinding[] {
  const byRevision = rowsByRevision(outbox);
  const last = outbox.reduce((m, r) => Math.max(m, r.revision), 0);
  const findings: WatchFinding[] = [];
  for (const log of logs) {
    const inFilter = (row: OutboxRow): boolean => log.tenant === null || tenantOf(row.key) === log.tenant;
    const share = (revision: number): OutboxRow[] => (byRevision.get(revision) ?? []).filter(inFilter);
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
      /** The revision whose frames are arriving: those so far, until the one with its id line. */
      let open: ChangeFrame[] = [];
      /** A revision's frames against its share of the outbox, once they ended (with its id line, or cut by `by`). */
      const close = (by: string | undefined) => {
        const frames = open;
        open = [];
        const first = frames[0];
        if (!first) return;
        const revision = first.revision;
        if (by !== undefined) report(i, `revision ${revision}'s frames end without its id line: ${by} came after ${frames.length} of them`);
        frames.slice(0, -1).forEach((f) => {
          if (f.id !== null && f.id !== undefined) report(i, `revision ${revision}: the frame of ${f.key} carries id ${f.id} before the revision's last frame`);
        });
        const lastFrame = frames[frames.length - 1] as ChangeFrame;
        if (by === undefined && lastFrame.id !== undefined && lastFrame.id !== revision) report(i, `revision ${revision}'s last frame carries id ${lastFrame.id}`);
        const rows = byRevision.get(revision) ?? [];
        if (rows.length === 0) {
          report(i, `change ${revision} is no committed write`);
          lastId = Math.max(lastId, revision);
          return;
        }
        const mine = share(revision);
        const sent = new Set<string>();
        frames.forEach((f, k) => {
          const row = rows.find((r) => r.key === f.key);
          if (sent.has(f.key)) report(i, `revision ${revision} sent ${f.key} twice`);
          sent.add(f.key);
          if (!row) report(i, `revision ${revision} sent ${f.key}, which the revision did not change`);
          else if (!inFilter(row)) report(i, `change ${revision} of ${row.key} is outside the filter`);
          else if (row.deleted !== f.deleted || (!row.deleted && row.url !== f.url) || row.eventId !== f.eventId) {
            report(i, `change ${revision} is ${f.key} ${f.deleted ? 'deleted' : f.url}, the outbox has ${row.key} ${row.deleted ? 'deleted' : row.url}`);
          }
          const before = frames[k - 1];
          if (before && before.key >= f.key) report(i, `revision ${revision}: ${f.key} came after ${before.key} (not in route-key order)`);
          if (f.setSize !== undefined && f.setSize !== rows.length) report(i, `revision ${revision}: ${f.key}'s changesetsize is ${f.setSize}, the revision changed ${rows.length} routes`);
        });
        const missing = mine.filter((r) => !sent.has(r.key)).map((r) => r.key);
        if (missing.length > 0) report(i, `revision ${revision} came without ${missing.join(', ')} (its share is ${mine.length} of ${rows.length} routes)`);
        lastId = Math.max(lastId, revision);
      };
      let previous: WatchFrame | undefined;
      for (const frame of segment.frames) {
        const before = previous;
        previous = frame;
        if (frame.kind === 'change') {
          const current = open[0];
          if (current && current.revision !== frame.revision) close(`a frame of revision ${frame.revision}`);
          if (open.length === 0) {
            if (before?.kind === 'change' && before.revision === frame.revision && before.id !== undefined) {
              report(i, `revision ${frame.revision}: ${frame.key} came after the frame with its id line (${before.key})`);
              continue;
            }
            if (frame.revision <= lastId) {
              report(i, `change ${frame.revision} after id ${lastId} (a repeat or out of order)`);
              // Its id line (if any) still ends the revision.
              continue;
            }
            for (let r = lastId + 1; r < frame.revision; r++) if (share(r).length > 0) report(i, `change ${r} skipped (next came ${frame.revision})`);
          }
          open.push(frame);
          // Saved before change sets: every frame had its id (undefined here).
          if (frame.id !== null) close(undefined);
        } else {
          if (open.length > 0) close(`bookmark ${frame.revision}`);
          if (frame.revision < lastId) {
            report(i, `bookmark ${frame.revision} after id ${lastId}`);
            continue;
          }
          for (let r = lastId + 1; r <= frame.revision; r++) if (share(r).length > 0) report(i, `bookmark ${frame.revision} covers change ${r}, not sent`);
          lastId = frame.revision;
        }
        if (open.length === 0) caughtUp = Math.max(caughtUp, lastId);
      }
      if (open.length > 0) close('the end of the connection');
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
