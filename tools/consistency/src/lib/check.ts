import { checkRevocations, type RevocationSummary } from './revoke-check';
import { checkWatchers } from './watch-check';
import type { ChangeSetOp, FaultName, FaultWindow, FinalState, Op, OutboxRow, ReadOp, SetChange, WriteOp } from './history';

/**
 * The checker: a pure function of the recorded history, the injected faults and the final state.
 * Ground truth is the outbox (G7: exactly one row per committed write, in revision order), so a
 * write whose answer was lost is still known when it committed. Every rule below is sound: it
 * flags only what no correct system could have done, taking a commit to lie anywhere between its
 * request's start and end.
 */

/**
 * G1 to G8 of the contract, A: change sets are atomic (all of a set at its revision R or nothing; a
 * read at as-of >= R sees all of R's changes to what it reads, at as-of < R none; a refused set leaves
 * no trace), W: the watch's rules (order, no gap, no repeat, a revision's frames together and whole,
 * bookmarks, snapshots), and R: revocation (a revoked key is refused, and its streams end, within
 * AUTH_CACHE_TTL_MS).
 */
export type Guarantee = 'G1' | 'G2' | 'G3' | 'G5' | 'G6' | 'G7' | 'G8' | 'A' | 'W' | 'R';
export const GUARANTEES: Guarantee[] = ['G1', 'G2', 'G3', 'G5', 'G6', 'G7', 'G8', 'A', 'W', 'R'];

export interface Violation {
  guarantee: Guarantee;
  message: string;
  ops: Op[];
}

export interface CheckOptions {
  /** The resolvers' CACHE_TTL_SECONDS, in ms (G3's bound). */
  ttlMs: number;
  /** The resolvers' AUTH_CACHE_TTL_MS (R's bound). */
  authCacheTtlMs: number;
  /** After a fault heals, how long failures are still excused (G8: "after recovery: normal service"). */
  recoveryMs: number;
}

export interface Convergence {
  fault: FaultName;
  healed: number;
  /** From the heal to the end of the last default-mode read that did not reflect what had committed by then; null: not within the run. */
  ms: number | null;
}

export interface CheckResult {
  violations: Violation[];
  /** How long the value of each default-mode answer (not STALE) had been superseded, ms; and of each SDK answer from memory. */
  staleness: { calm: number[]; faults: number[]; sdkMemory?: number[] };
  convergence: Convergence[];
  /** Writes whose answer was lost (no answer or 5xx) but which committed. */
  indeterminateCommitted: number;
  /** Each revocation as the victim saw it (absent in results computed before the revoke fault). */
  revocations?: RevocationSummary[];
}

/** One state of one route: the initial absence (index 0) or an outbox row. */
interface Version {
  index: number;
  revision: number;
  url: string | null;
  /** The interval in which its write committed (unknown: -Infinity..Infinity). */
  writeStart: number;
  writeEnd: number;
  op?: WriteOp | ChangeSetOp;
}

class KeyHistory {
  readonly versions: Version[] = [{ index: 0, revision: 0, url: null, writeStart: -Infinity, writeEnd: -Infinity }];
  private readonly byRev = new Map<number, Version>();

  add(row: OutboxRow, writeStart: number, writeEnd: number, op: WriteOp | ChangeSetOp | undefined): void {
    const version: Version = { index: this.versions.length, revision: row.revision, url: row.deleted ? null : row.url, writeStart, writeEnd, op };
    this.versions.push(version);
    this.byRev.set(row.revision, version);
  }

  byRevision(revision: number): Version | undefined {
    return this.byRev.get(revision);
  }

  /** The state as of a store revision: the last version with revision <= it. */
  at(revision: number): Version {
    let lo = 0;
    let hi = this.versions.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.versions[mid] as Version).revision <= revision) lo = mid;
      else hi = mid - 1;
    }
    return this.versions[lo] as Version;
  }

  next(v: Version): Version | undefined {
    return this.versions[v.index + 1];
  }

  /** The version that was certainly the current one during all of [start, end], if one was. */
  currentThroughout(start: number, end: number): Version | undefined {
    let v: Version | undefined;
    for (const candidate of this.versions) if (candidate.writeEnd < start) v = candidate;
    if (!v) return undefined;
    const next = this.next(v);
    return next === undefined || next.writeStart > end ? v : undefined;
  }
}

const ok = (status: number | null): boolean => status !== null && status >= 200 && status < 300;
const indeterminate = (status: number | null): boolean => status === null || status >= 500;

/** Who made an outbox row: a single-route write, or one change of a change set. */
interface Writer {
  op: WriteOp | ChangeSetOp;
  change?: SetChange;
}

/** A write that committed as answered: its revision, when it was asked for and answered. */
interface Commit {
  op: WriteOp | ChangeSetOp;
  revision: number;
  start: number;
  end: number;
}

export function opLabel(op: Op): string {
  if (op.type === 'changeset') return 'change set';
  const label = op.type === 'write' ? op.kind : `read ${op.mode}`;
  return op.sdk ? `sdk ${label}` : op.credential !== undefined ? `victim ${label}` : label;
}

export function describeOp(op: Op): string {
  const answer = op.status === null ? `no answer (${op.error ?? '?'})` : String(op.status);
  const times = `[${op.start.toFixed(1)}..${op.end.toFixed(1)}]`;
  const by = op.credential === undefined ? '' : ` with ${op.credential}`;
  if (op.type === 'changeset') {
    const changes = op.changes.map((c) => {
      const compare = c.ifRevision !== undefined ? ` ifRevision ${c.ifRevision}` : c.ifAbsent ? ' ifAbsent' : '';
      const outcome = c.result === undefined ? '' : ` -> ${c.result}${c.revision === null || c.revision === undefined ? '' : ` ${c.revision}`}`;
      return `${c.op} ${c.key}${c.url === null ? '' : ` ${c.invalid ? '(bad URL)' : c.url}`}${compare}${outcome}`;
    });
    return `#${op.id} client ${op.client} POST /v1/changes [${changes.join('; ')}] ${times} -> ${answer}${op.revision !== undefined ? ` rev ${op.revision}` : ''}`;
  }
  if (op.type === 'write') {
    const req = op.kind === 'delete' ? 'DELETE' : `PUT ${op.url}${op.ifMatch !== undefined ? ` If-Match ${op.ifMatch}` : ''}${op.kind === 'put-if-none-match' ? ' If-None-Match *' : ''}`;
    return `#${op.id} client ${op.client}${by} ${req} ${op.key} ${times} -> ${answer}${op.revision !== undefined ? ` rev ${op.revision}` : ''}`;
  }
  const req = `GET ${op.key} (${op.mode}${op.minRevision !== undefined ? ` N=${op.minRevision}` : ''}, resolver ${op.resolver})`;
  const got = op.status === 200 ? ` ${op.url} rev ${op.revision}` : '';
  return `#${op.id} client ${op.client}${by} ${req} ${times} -> ${answer}${got} as-of ${op.asOf ?? '-'} ${op.cache ?? ''}`.trimEnd();
}

export function check(history: Op[], faults: FaultWindow[], final: FinalState, options: CheckOptions): CheckResult {
  const violations: Violation[] = [];
  const flag = (guarantee: Guarantee, message: string, ...ops: Op[]) => violations.push({ guarantee, message, ops });
  const writes = history.filter((o): o is WriteOp => o.type === 'write');
  const reads = history.filter((o): o is ReadOp => o.type === 'read');
  const sets = history.filter((o): o is ChangeSetOp => o.type === 'changeset');

  // --- The ground truth: every key's versions, from the outbox, tied to the requests that made them
  // (a PUT, or a put of a change set, by its unique URL; a DELETE by its answered revision).
  const putByUrl = new Map<string, Writer>();
  for (const w of writes) if (w.url !== null) putByUrl.set(w.url, { op: w });
  for (const set of sets) for (const c of set.changes) if (c.url !== null) putByUrl.set(c.url, { op: set, change: c });
  const deleteByRevision = new Map<string, Writer>();
  for (const w of writes) if (w.kind === 'delete' && ok(w.status) && w.revision !== undefined) deleteByRevision.set(`${w.key}@${w.revision}`, { op: w });
  for (const set of sets) {
    if (!ok(set.status) || set.revision === undefined) continue;
    for (const c of set.changes) if (c.op === 'delete' && c.result === 'deleted') deleteByRevision.set(`${c.key}@${set.revision}`, { op: set, change: c });
  }
  const writerKey = (w: Writer): string => (w.change ? w.change.key : (w.op as WriteOp).key);
  const keys = new Map<string, KeyHistory>();
  const keyHistory = (key: string): KeyHistory => {
    let h = keys.get(key);
    if (!h) keys.set(key, (h = new KeyHistory()));
    return h;
  };
  const rows = [...final.outbox].sort((a, b) => a.revision - b.revision);
  // A revision may hold many rows (a change set: one per route it changed), each route's at most once.
  const rowAt = (key: string, revision: number) => `${key}@${revision}`;
  const rowByRevision = new Map<number, OutboxRow[]>();
  for (const r of rows) rowByRevision.set(r.revision, [...(rowByRevision.get(r.revision) ?? []), r]);
  let indeterminateCommitted = 0;
  // First the rows whose request is known: a PUT by its unique URL, a DELETE by its answered revision.
  const madeBy = rows.map((row): Writer | undefined => {
    const w = row.deleted ? deleteByRevision.get(`${row.key}@${row.revision}`) : row.url === null ? undefined : putByUrl.get(row.url);
    return w && writerKey(w) === row.key ? w : undefined;
  });
  // A change set whose answer was lost is known to have committed, and where, by its puts' rows: its
  // deletes at that revision are its own.
  const setCommitted = new Map<ChangeSetOp, number>();
  rows.forEach((row, i) => {
    const w = madeBy[i];
    if (w?.op.type !== 'changeset') return;
    const at = setCommitted.get(w.op);
    if (at !== undefined && at !== row.revision) flag('A', `a change set committed in two revisions: ${at} and ${row.revision} (${row.key})`, w.op);
    else setCommitted.set(w.op, row.revision);
  });
  rows.forEach((row, i) => {
    if (madeBy[i] || !row.deleted) return;
    for (const [set, at] of setCommitted) {
      const change = set.changes.find((c) => c.op === 'delete' && c.key === row.key);
      if (at === row.revision && change && indeterminate(set.status)) madeBy[i] = { op: set, change };
    }
  });
  const interval = (i: number): [number, number] => {
    const w = madeBy[i];
    return w ? [w.op.start, w.op.end] : [-Infinity, Infinity];
  };
  const countedSets = new Set<ChangeSetOp>();
  rows.forEach((row, i) => {
    const w = madeBy[i];
    let [start, end] = interval(i);
    if (w) {
      const op = w.op;
      if (indeterminate(op.status)) {
        if (op.type === 'write' || !countedSets.has(op)) indeterminateCommitted++;
        if (op.type === 'changeset') countedSets.add(op);
      } else if (!ok(op.status)) {
        if (op.type === 'changeset') flag('A', `a change set refused with ${op.status} committed its change of ${row.key} as revision ${row.revision}`, op);
        else flag('G1', `answered ${op.status} but committed as revision ${row.revision}`, op);
      }
    } else if (!row.deleted) {
      flag('G1', `outbox row ${row.revision} (${row.key} -> ${row.url}) was written by no client`);
    } else {
      // A DELETE whose answer was lost: one of the unanswered deletes of this key (a DELETE, or a
      // change set's delete when the set has no put that could have placed it), committed after the
      // row before it started and before the row after it was answered (revisions are commit order).
      const after = interval(i - 1)[0];
      const before = interval(i + 1)[1];
      const candidates: (WriteOp | ChangeSetOp)[] = [
        ...writes.filter((w) => w.kind === 'delete' && w.key === row.key && indeterminate(w.status)),
        ...sets.filter((s) => indeterminate(s.status) && !s.changes.some((c) => c.op === 'put') && s.changes.some((c) => c.op === 'delete' && c.key === row.key)),
      ].filter((c) => c.end >= after && c.start <= before);
      if (candidates.length === 0) flag('G1', `outbox row ${row.revision} (delete ${row.key}) was written by no client`);
      else {
        indeterminateCommitted++;
        start = Math.max(after, Math.min(...candidates.map((c) => c.start)));
        end = Math.min(before, Math.max(...candidates.map((c) => c.end)));
      }
    }
    keyHistory(row.key).add(row, start, end, w?.op);
  });
  /** Revisions of change sets: those of many rows, and those a change set (POST /v1/changes) made. */
  const setRevisions = new Set<number>([...setCommitted.values()]);
  for (const [revision, at] of rowByRevision) if (at.length > 1) setRevisions.add(revision);
  for (const set of sets) if (ok(set.status) && set.revision !== undefined && set.changes.some((c) => c.result !== undefined && c.result !== 'unchanged')) setRevisions.add(set.revision);

  // --- G2: one store-wide clock, gap-free (every revision 1..n has at least one row), in real-time
  // order of the writes; G7: a change set has one row per route it changed (each route at most once per revision).
  let last = 0;
  const routesAt = new Set<string>();
  for (const row of rows) {
    if (row.revision !== last && row.revision !== last + 1) flag('G2', `outbox revisions are not dense: ${last + 1}${row.revision - 1 > last + 1 ? `..${row.revision - 1}` : ''} has no row (next: ${row.revision})`);
    last = row.revision;
    const at = rowAt(row.key, row.revision);
    if (routesAt.has(at)) flag('G7', `outbox revision ${row.revision} holds ${row.key} more than once`);
    routesAt.add(at);
  }
  // A: one revision is one write's: its rows are all of one request (a write, or a change set).
  const writersAt = new Map<number, Set<WriteOp | ChangeSetOp>>();
  rows.forEach((row, i) => {
    const w = madeBy[i];
    if (w) writersAt.set(row.revision, (writersAt.get(row.revision) ?? new Set()).add(w.op));
  });
  for (const [revision, ops] of writersAt) if (ops.size > 1) flag('A', `revision ${revision} holds the rows of ${ops.size} requests`, ...ops);
  // The writes that committed as answered: single-route writes, and change sets that changed a route
  // (a set that changed nothing answers the store's current revision, which is another write's).
  const confirmed = writes.filter((w) => ok(w.status) && w.revision !== undefined);
  const commits: Commit[] = [
    ...confirmed.map((w) => ({ op: w, revision: w.revision as number, start: w.start, end: w.end })),
    ...sets.filter((s) => ok(s.status) && s.revision !== undefined && s.changes.some((c) => c.result !== undefined && c.result !== 'unchanged')).map((s) => ({ op: s, revision: s.revision as number, start: s.start, end: s.end })),
  ];
  const seenRevision = new Map<number, WriteOp | ChangeSetOp>();
  for (const c of commits) {
    const other = seenRevision.get(c.revision);
    if (other) flag('G2', `two writes answered the same revision ${c.revision}`, other, c.op);
    seenRevision.set(c.revision, c.op);
  }
  for (const w of confirmed) {
    const at = rowByRevision.get(w.revision as number) ?? [];
    if (at.length > 1) flag('G7', `a single-route write answered revision ${w.revision}, which holds ${at.length} rows (${at.map((r) => r.key).join(', ')})`, w);
  }
  const byEnd = [...commits].sort((a, b) => a.end - b.end);
  const prefixMax: { end: number; revision: number; op: WriteOp | ChangeSetOp }[] = [];
  for (const w of byEnd) {
    const prev = prefixMax[prefixMax.length - 1];
    prefixMax.push(prev && prev.revision >= w.revision ? { ...prev, end: w.end } : { end: w.end, revision: w.revision, op: w.op });
  }
  /** The highest revision of a write answered before `t`. */
  const committedBefore = (t: number): { revision: number; op?: WriteOp | ChangeSetOp } => {
    let lo = 0;
    let hi = prefixMax.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((prefixMax[mid] as { end: number }).end < t) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? { revision: 0 } : (prefixMax[lo - 1] as { revision: number; op: WriteOp | ChangeSetOp });
  };
  for (const w of commits) {
    const before = committedBefore(w.start);
    if (before.revision >= w.revision) flag('G2', `a write got revision ${w.revision}, not above ${before.revision} of a write answered before it started`, before.op as Op, w.op);
  }

  // --- G1: acknowledged writes are in the outbox as they were answered; preconditions held.
  for (const w of writes) {
    const h = keyHistory(w.key);
    if (ok(w.status)) {
      if (w.revision === undefined) {
        flag('G1', 'a 2xx write without X-Route-Revision', w);
        continue;
      }
      const atRevision = rowByRevision.get(w.revision) ?? [];
      const row = atRevision.find((r) => r.key === w.key) ?? atRevision[0];
      const v = h.byRevision(w.revision);
      if (!row || row.key !== w.key || row.deleted !== (w.kind === 'delete') || (w.url !== null && row.url !== w.url) || !v) {
        flag('G1', `answered revision ${w.revision}, but the outbox holds ${row ? `${row.key} ${row.deleted ? 'delete' : row.url}` : 'nothing'} there`, w);
        continue;
      }
      const before = h.versions[v.index - 1] as Version;
      if (w.kind === 'delete' && before.url === null) flag('G1', 'a DELETE succeeded on a route that did not exist', w);
      if (w.kind !== 'delete' && (w.status === 201) !== (before.url === null)) flag('G1', `PUT answered ${w.status} but the route ${before.url === null ? 'did not exist' : 'existed'} before it`, w);
      if (w.kind === 'put-if-match' && before.revision !== w.ifMatch) flag('G1', `If-Match ${w.ifMatch} succeeded over revision ${before.revision}`, w);
      if (w.kind === 'put-if-none-match' && before.url !== null) flag('G1', 'If-None-Match: * succeeded over an existing route', w);
      continue;
    }
    const current = h.currentThroughout(w.start, w.end);
    if (!current) continue;
    if (w.status === 412 && w.kind === 'put-if-match' && current.url !== null && current.revision === w.ifMatch)
      flag('G1', `If-Match ${w.ifMatch} refused while revision ${w.ifMatch} was current throughout`, w);
    if (w.status === 412 && w.kind === 'put-if-none-match' && current.url === null) flag('G1', 'If-None-Match: * refused while the route did not exist', w);
    if (w.status === 404 && w.kind === 'delete' && current.url !== null) flag('G1', `DELETE answered 404 while revision ${current.revision} was current throughout`, w);
  }

  // --- A and G1: a change set is all or nothing at its revision, as answered; a refused one left nothing.
  for (const set of sets) checkChangeSet(set, setCommitted.get(set), rowByRevision, keyHistory, flag);

  // --- Reads.
  // The puts of change sets that were refused (an answer other than 2xx and 5xx): none may ever show.
  const refusedBy = new Map<string, ChangeSetOp>();
  for (const set of sets) if (!ok(set.status) && !indeterminate(set.status)) for (const c of set.changes) if (c.url !== null) refusedBy.set(c.url, set);
  /** The first change set revision among a route's versions after `from` up to `to` (indexes). */
  const setBetween = (h: KeyHistory, from: number, to: number): Version | undefined => h.versions.slice(from + 1, to + 1).find((v) => setRevisions.has(v.revision));
  const pgCuts = faults.filter((f) => f.fault === 'postgres-cut');
  const during = (windows: FaultWindow[], op: Op) => windows.some((f) => op.start <= f.healed + options.recoveryMs && op.end >= f.start);
  const staleness = { calm: [] as number[], faults: [] as number[], sdkMemory: [] as number[] };
  const seenBy = new Map<string, number>(); // client|key -> highest version index the client observed
  for (const op of [...history].sort((a, b) => a.start - b.start)) {
    if (op.type === 'changeset') {
      // The session saw every route the set changed at its revision.
      if (!ok(op.status) || op.revision === undefined) continue;
      for (const c of op.changes) {
        if (c.result === undefined || c.result === 'unchanged') continue;
        const v = keyHistory(c.key).byRevision(op.revision);
        const sessionKey = `${op.client}|${c.key}`;
        if (v) seenBy.set(sessionKey, Math.max(seenBy.get(sessionKey) ?? 0, v.index));
      }
      continue;
    }
    const h = keyHistory(op.key);
    const sessionKey = `${op.client}|${op.key}`;
    if (op.type === 'write') {
      if (ok(op.status) && op.revision !== undefined) {
        const v = h.byRevision(op.revision);
        if (v) seenBy.set(sessionKey, Math.max(seenBy.get(sessionKey) ?? 0, v.index));
      }
      continue;
    }
    if (op.status !== 200 && op.status !== 404) continue;
    if (op.asOf === undefined || !Number.isFinite(op.asOf)) {
      flag('G2', 'an answer without X-Consistency-Revision', op);
      continue;
    }
    let v: Version;
    const atAsOf = h.at(op.asOf);
    if (op.status === 200) {
      const refused = op.url === undefined || op.url === null ? undefined : refusedBy.get(op.url);
      if (refused) {
        flag('A', `a read shows ${op.url}, a change of a change set refused with ${refused.status}`, op, refused);
        continue;
      }
      const found = op.revision === undefined ? undefined : h.byRevision(op.revision);
      if (!found || found.url !== op.url) {
        flag('G1', 'a read returned a value that no committed write produced', op);
        continue;
      }
      v = found;
    } else if (atAsOf.url !== null) {
      // A 404 is the route's absence as of its as-of revision.
      if (setRevisions.has(atAsOf.revision)) flag('A', `a 404 as of ${op.asOf} misses change set ${atAsOf.revision}'s put of ${op.key}`, op);
      else flag('G2', `a 404 as of ${op.asOf}, when the route was ${atAsOf.url} (rev ${atAsOf.revision})`, op);
      continue;
    } else {
      v = atAsOf;
    }
    // G2: the answer is the route's state as of the revision it claims; A when a change set's change
    // shows at an as-of below its revision, or is missing at an as-of at or above it.
    if (atAsOf !== v) {
      const missed = v.index < atAsOf.index ? setBetween(h, v.index, atAsOf.index) : undefined;
      if (v.revision > op.asOf && setRevisions.has(v.revision)) flag('A', `a read as of ${op.asOf} shows change set ${v.revision}'s change of ${op.key} (${v.url ?? 'absent'})`, op);
      else if (missed) flag('A', `a read as of ${op.asOf} misses change set ${missed.revision}'s change of ${op.key} (it shows rev ${v.revision})`, op);
      else flag('G2', `as of ${op.asOf} the route was ${atAsOf.url ?? 'absent'} (rev ${atAsOf.revision}), not ${v.url ?? 'absent'} (rev ${v.revision})`, op);
    }
    if (v.writeStart > op.end) flag('G1', 'a read returned a value written after it ended', op);
    // G3: not superseded for longer than the TTL, unless STALE; STALE only while PostgreSQL is cut.
    const next = h.next(v);
    const superseded = next ? Math.max(0, op.start - next.writeEnd) : 0;
    if (op.cache === 'STALE') {
      if (!during(pgCuts, op)) flag('G3', 'a STALE answer while PostgreSQL was reachable', op);
    } else {
      if (superseded > options.ttlMs) flag('G3', `the value had been superseded ${Math.round(superseded)} ms before the read (TTL ${options.ttlMs} ms) by ${next?.op ? `#${next.op.id}` : `revision ${next?.revision}`}`, op);
      if (op.mode === 'default') (during(faults, op) ? staleness.faults : staleness.calm).push(superseded);
      if (op.cache === 'sdk-memory') staleness.sdkMemory.push(superseded);
    }
    // G5: a minimum revision is honoured, and a session never reads backwards.
    if (op.mode === 'min-revision' && op.minRevision !== undefined) {
      if (op.asOf < op.minRevision) flag('G5', `X-Min-Revision ${op.minRevision} answered as of ${op.asOf}`, op);
      else if (v.index < h.at(op.minRevision).index) flag('G5', `X-Min-Revision ${op.minRevision} answered with revision ${v.revision}, older than the route at ${op.minRevision}`, op);
      const seen = seenBy.get(sessionKey) ?? 0;
      if (v.index < seen) flag('G5', `the session read version ${v.revision} after having seen ${(h.versions[seen] as Version).revision}`, op);
    }
    // G1: a read of the database sees every write answered before it started.
    if (op.mode === 'strong') {
      const before = committedBefore(op.start);
      if (op.asOf < before.revision) flag('G1', `a strong read as of ${op.asOf} missed revision ${before.revision}, answered before it started`, op, before.op as Op);
    }
    seenBy.set(sessionKey, Math.max(seenBy.get(sessionKey) ?? 0, v.index));
  }
  for (const op of reads) {
    if (op.mode === 'min-revision' && op.status === 412) flag('G5', 'X-Min-Revision of a revision the client had seen answered 412', op);
  }

  // --- G8: failures only where the degradation table allows them; a refusal only of a revoked key
  // (R says when it must come), once its DELETE was sent.
  const revokes = faults.filter((f) => f.fault === 'revoke');
  const revoked = (op: Op) => op.credential !== undefined && revokes.some((f) => f.credential === op.credential && op.end >= f.start);
  for (const op of history) {
    if ((op.status === 401 || op.status === 403) && revoked(op)) continue;
    // A change set: 400 only for the one carrying a bad change on purpose.
    const expected =
      op.type === 'read' ? [200, 404, 412] : op.type === 'write' ? [200, 201, 204, 404, 412] : op.changes.some((c) => c.invalid) ? [200, 201, 400, 412] : [200, 201, 412];
    if (op.status === 500 || (op.status !== null && op.status < 500 && !expected.includes(op.status))) {
      flag('G8', `unexpected status ${op.status}`, op);
      continue;
    }
    if (!indeterminate(op.status)) continue;
    if (during(pgCuts, op)) continue;
    if (op.type === 'read' && during(faults.filter((f) => f.fault === 'resolver-kill' && f.resolver === op.resolver), op)) continue;
    flag('G8', `${op.status ?? 'no answer'} while only ${faultsOver(faults, op, options.recoveryMs) || 'nothing'} had failed`, op);
  }

  // --- G6 and G1 at the end: the cache, the resolvers and the outbox agree with the database.
  const allKeys = new Set([...keys.keys(), ...final.routes.keys(), ...final.cache.keys()]);
  for (const key of allKeys) {
    const db = final.routes.get(key) ?? null;
    const last = keyHistory(key).versions.at(-1) as Version;
    if ((last.url ?? null) !== (db?.url ?? null) || (db && db.revision !== last.revision))
      flag('G1', `${key}: the database holds ${db ? `${db.url} rev ${db.revision}` : 'nothing'}, the outbox's last row ${last.url ?? 'absent'} rev ${last.revision}`);
    const entry = final.cache.get(key);
    if (entry === 'unparsable') flag('G6', `${key}: the cache entry cannot be parsed`);
    else if (entry && (entry.route?.url ?? null) !== (db?.url ?? null))
      flag('G6', `${key}: the cache holds ${entry.route ? `${entry.route.url} rev ${entry.route.revision}` : 'absent'} (as of ${entry.asOf}), the database ${db ? `${db.url} rev ${db.revision}` : 'nothing'}`);
    else if (entry?.route && db && entry.route.revision !== db.revision) flag('G6', `${key}: the cache holds revision ${entry.route.revision}, the database ${db.revision}`);
  }
  for (const op of final.finalReads) {
    const db = final.routes.get(op.key) ?? null;
    const answer = op.status === 200 ? op.url : op.status === 404 ? null : undefined;
    if (answer !== (db?.url ?? null) || (db && op.revision !== db.revision)) flag('G6', `after quiescence resolver ${op.resolver} answered ${op.status} ${op.url ?? ''}, the database holds ${db ? `${db.url} rev ${db.revision}` : 'nothing'}`, op);
  }

  // --- G7: every row published and on the topic, once per event id at least, in order per key.
  if (final.stuck) flag('G7', final.stuck);
  for (const row of rows) if (!row.published) flag('G7', `outbox row ${row.revision} (${row.key}) was not published after the drain`);
  const onTopic = new Map<string, typeof final.topic>();
  for (const e of final.topic) onTopic.set(e.eventId, [...(onTopic.get(e.eventId) ?? []), e]);
  const rowByEvent = new Map(rows.map((r) => [r.eventId, r]));
  for (const row of rows) {
    const events = onTopic.get(row.eventId) ?? [];
    if (events.length === 0) flag('G7', `outbox row ${row.revision} (${row.key}) is not on the topic`);
    for (const e of events) {
      if (e.key !== row.key || e.subject !== row.key || e.revision !== row.revision || e.deleted !== row.deleted || e.url !== (row.deleted ? null : row.url))
        flag('G7', `the event of outbox row ${row.revision} differs from the row: ${JSON.stringify(e)}`);
    }
  }
  for (const e of final.topic) if (!rowByEvent.has(e.eventId)) flag('G7', `an event on the topic has no outbox row: ${JSON.stringify(e)}`);
  const perKey = new Map<string, { partitions: Set<number>; firsts: number[]; seen: Set<number> }>();
  for (const e of [...final.topic].sort((a, b) => a.partition - b.partition || a.offset - b.offset)) {
    const k = perKey.get(e.key) ?? { partitions: new Set(), firsts: [], seen: new Set() };
    perKey.set(e.key, k);
    k.partitions.add(e.partition);
    if (!k.seen.has(e.revision)) {
      const prev = k.firsts.at(-1);
      if (prev !== undefined && e.revision < prev) flag('G7', `${e.key}: revision ${e.revision} first arrived after ${prev}`);
      k.firsts.push(e.revision);
      k.seen.add(e.revision);
    }
  }
  for (const [key, k] of perKey) if (k.partitions.size > 1) flag('G7', `${key}: events on ${k.partitions.size} partitions`);

  const revokedCredentials = new Set(revokes.flatMap((f) => (f.credential === undefined ? [] : [f.credential])));
  for (const f of checkWatchers(final.watchers ?? [], final.outbox, revokedCredentials)) flag('W', `${f.watcher}: ${f.message}`);

  // --- R: a revoked key is refused, and its streams end, within AUTH_CACHE_TTL_MS.
  const revocations = checkRevocations(history, faults, final.watchers ?? [], { authCacheTtlMs: options.authCacheTtlMs });
  for (const f of revocations.findings) flag('R', f.message, ...f.ops);

  return { violations, staleness, convergence: convergence(history, faults, keys), indeterminateCommitted, revocations: revocations.summaries };
}

type Flag = (guarantee: Guarantee, message: string, ...ops: Op[]) => void;

/** Whether a change's compare held over the route's state (null: absent; else its revision). */
function compareHolds(c: SetChange, state: Version): boolean {
  if (c.ifRevision !== undefined) return state.url !== null && state.revision === c.ifRevision;
  if (c.ifAbsent) return state.url === null;
  return true;
}

/**
 * One change set against the outbox: answered 2xx, every route it changed has exactly one row at its
 * revision R, as answered (created, updated, deleted against the state before R; its compares held),
 * and R holds no other row; a route it left unchanged has no row there. Answer lost: all of it
 * committed at one revision or none of it. Refused: nothing of it committed (its puts are flagged
 * where their rows are met), and a 412 only when a compare failed.
 */
function checkChangeSet(
  set: ChangeSetOp,
  committedAt: number | undefined,
  rowByRevision: Map<number, OutboxRow[]>,
  keyHistory: (key: string) => KeyHistory,
  flag: Flag,
): void {
  if (ok(set.status)) {
    const r = set.revision;
    if (r === undefined || set.changes.some((c) => c.result === undefined)) {
      flag('G1', 'a 2xx change set without its revision or every change\'s result', set);
      return;
    }
    if (set.changes.some((c) => c.invalid)) flag('A', 'a change set with a bad change was applied (400 expected)', set);
    const changed = set.changes.filter((c) => c.result !== 'unchanged');
    if (changed.length === 0) return; // it committed nothing and answered the store's current revision
    if ((set.status === 201) !== changed.some((c) => c.result === 'created')) flag('G1', `a change set answered ${set.status} with ${changed.some((c) => c.result === 'created') ? 'a route' : 'no route'} created`, set);
    const at = rowByRevision.get(r) ?? [];
    for (const c of set.changes) {
      const h = keyHistory(c.key);
      const row = at.find((x) => x.key === c.key);
      if (c.result === 'unchanged') {
        if (row) flag('A', `change set ${r}: ${c.key} answered unchanged, but revision ${r} has a row of it`, set);
        if (c.op === 'put') flag('G1', `change set ${r}: a put of a new URL to ${c.key} answered unchanged`, set);
        else if (h.at(r).url !== null) flag('G1', `change set ${r}: the delete of ${c.key} answered unchanged, but as of ${r} it existed (rev ${h.at(r).revision})`, set);
        if (!compareHolds(c, h.at(r))) flag('G1', `change set ${r}: ${c.key}'s compare held over nothing (the route as of ${r}: ${h.at(r).url === null ? 'absent' : `rev ${h.at(r).revision}`})`, set);
        continue;
      }
      const v = h.byRevision(r);
      if (!row || !v) {
        flag('A', `change set ${r}: ${c.key} answered ${c.result}, but revision ${r} has no row of it`, set);
        continue;
      }
      if (row.deleted !== (c.op === 'delete') || (c.url !== null && row.url !== c.url)) {
        flag('G1', `change set ${r}: ${c.key}'s row is ${row.deleted ? 'a delete' : row.url}, not the set's ${c.op === 'delete' ? 'delete' : c.url}`, set);
        continue;
      }
      // A deleted route's revision: the set's (as a DELETE's X-Route-Revision), or null (the OpenAPI text: "null: it does not exist").
      if (c.revision !== r && !(c.op === 'delete' && c.revision === null)) flag('G1', `change set ${r}: ${c.key} answered revision ${c.revision}`, set);
      const before = h.versions[v.index - 1] as Version;
      if (c.result === 'created' && before.url !== null) flag('G1', `change set ${r}: ${c.key} answered created, but it existed (rev ${before.revision})`, set);
      if (c.result !== 'created' && before.url === null) flag('G1', `change set ${r}: ${c.key} answered ${c.result}, but it did not exist`, set);
      if (!compareHolds(c, before)) flag('G1', `change set ${r}: ${c.key}'s ${c.ifAbsent ? 'ifAbsent' : `ifRevision ${c.ifRevision}`} succeeded over ${before.url === null ? 'an absent route' : `revision ${before.revision}`}`, set);
    }
    for (const row of at) if (!changed.some((c) => c.key === row.key)) flag('A', `change set ${r}: revision ${r} has a row of ${row.key}, which the set did not change`, set);
    return;
  }
  if (indeterminate(set.status)) {
    // Its answer was lost: what its puts' rows say (a set of deletes alone was placed with the rows).
    if (committedAt === undefined) return;
    const at = rowByRevision.get(committedAt) ?? [];
    for (const c of set.changes) if (c.op === 'put' && !at.some((x) => x.url === c.url)) flag('A', `a change set (answer lost) committed at ${committedAt} without its put of ${c.key}`, set);
    for (const row of at) if (!set.changes.some((c) => c.key === row.key)) flag('A', `a change set (answer lost) committed at ${committedAt}, which has a row of ${row.key}, not in the set`, set);
    return;
  }
  if (set.status === 412) {
    // Refused although every compare held throughout the request.
    const compared = set.changes.filter((c) => c.ifRevision !== undefined || c.ifAbsent);
    const states = compared.map((c) => keyHistory(c.key).currentThroughout(set.start, set.end));
    if (compared.length > 0 && states.every((v, i) => v !== undefined && compareHolds(compared[i] as SetChange, v))) flag('G1', 'a change set refused with 412 while every compare held throughout', set);
  }
}

function faultsOver(faults: FaultWindow[], op: Op, recoveryMs: number): string {
  return faults
    .filter((f) => op.start <= f.healed + recoveryMs && op.end >= f.start)
    .map((f) => f.fault)
    .join(', ');
}

/**
 * After each heal: until when default-mode reads still returned a version older than what had
 * committed (its write answered) by the heal: the end of the last such read, from the heal (0: none).
 * Measured by the clients' own reads, so it is as fine-grained as their rate.
 */
function convergence(history: Op[], faults: FaultWindow[], keys: Map<string, KeyHistory>): Convergence[] {
  const reads = history.filter((o): o is ReadOp => o.type === 'read' && o.mode === 'default' && (o.status === 200 || o.status === 404) && o.asOf !== undefined);
  return faults.map((f) => {
    let worst = 0;
    for (const [key, h] of keys) {
      let target = 0;
      for (const v of h.versions) if (v.writeEnd <= f.healed) target = v.index;
      const index = (r: ReadOp) => (r.status === 200 ? (h.byRevision(r.revision as number)?.index ?? -1) : h.at(r.asOf as number).index);
      const after = reads.filter((r) => r.key === key && r.start >= f.healed).sort((a, b) => a.start - b.start);
      const bad = after.filter((r) => index(r) < target);
      const lastBad = bad.at(-1);
      if (lastBad && lastBad === after.at(-1)) return { fault: f.fault, healed: f.healed, ms: null };
      if (lastBad) worst = Math.max(worst, lastBad.end - f.healed);
    }
    return { fault: f.fault, healed: f.healed, ms: worst };
  });
}
