import { check, type CheckResult } from './check';
import { renderReport } from './report';
import type { ChangeSetOp, FaultWindow, FinalState, Op, OutboxRow, ReadOp, SetChange, TopicEvent, WriteOp } from './history';

// Histories written by hand: each rule of the checker must flag the anomaly it exists for, and a
// correct history must pass. Times are ms; the TTL is 1 s.

const KEY = 'acme/checkout/prod';
const OPTIONS = { ttlMs: 1_000, authCacheTtlMs: 1_000, recoveryMs: 500 };

let nextId = 0;
function put(start: number, end: number, url: string, revision: number | undefined, extra: Partial<WriteOp> = {}): WriteOp {
  return { id: nextId++, type: 'write', kind: 'put', client: 0, key: KEY, start, end, url, status: revision === undefined ? null : revision === 1 ? 201 : 200, ...(revision !== undefined ? { revision } : {}), ...extra };
}
function del(start: number, end: number, revision: number | undefined, extra: Partial<WriteOp> = {}): WriteOp {
  return { id: nextId++, type: 'write', kind: 'delete', client: 0, key: KEY, start, end, url: null, status: revision === undefined ? null : 204, ...(revision !== undefined ? { revision } : {}), ...extra };
}
function read(start: number, end: number, answer: { url: string; revision: number } | null, asOf: number, extra: Partial<ReadOp> = {}): ReadOp {
  return {
    id: nextId++,
    type: 'read',
    mode: 'default',
    resolver: 0,
    client: 1,
    key: KEY,
    start,
    end,
    status: answer ? 200 : 404,
    url: answer ? answer.url : null,
    ...(answer ? { revision: answer.revision } : {}),
    asOf,
    cache: 'HIT',
    ...extra,
  };
}
function row(revision: number, url: string | null): OutboxRow {
  return { revision, key: KEY, eventId: `e${revision}`, deleted: url === null, url, published: true };
}
function event(r: OutboxRow, offset: number): TopicEvent {
  return { partition: 0, offset, key: r.key, eventId: r.eventId, subject: r.key, deleted: r.deleted, url: r.url, revision: r.revision };
}
function finalState(rows: OutboxRow[], overrides: Partial<FinalState> = {}): FinalState {
  // Each route's last row: the database and the cache at the end.
  const lastOf = new Map<string, OutboxRow>();
  for (const r of rows) lastOf.set(r.key, r);
  const last = [...lastOf.values()];
  return {
    outbox: rows,
    routes: new Map(last.filter((r) => r.url !== null).map((r) => [r.key, { url: r.url as string, revision: r.revision }])),
    cache: new Map(last.map((r) => [r.key, { route: r.url === null ? null : { url: r.url, revision: r.revision }, asOf: r.revision }])),
    topic: rows.map((r, i) => event(r, i)),
    finalReads: [],
    drainMs: 0,
    ...overrides,
  };
}
function run(history: Op[], rows: OutboxRow[], overrides: Partial<FinalState> = {}, faults: FaultWindow[] = []): CheckResult {
  return check(history, faults, finalState(rows, overrides), OPTIONS);
}
const found = (r: CheckResult) => r.violations.map((v) => `${v.guarantee}: ${v.message}`);

const A = 'https://a.test/';
const B = 'https://b.test/';
const ROWS = [row(1, A), row(2, B)];

describe('the consistency checker', () => {
  it('passes a correct history, with a lost answer whose write committed', () => {
    const history = [put(0, 10, A, 1), put(20, 30, B, undefined), read(40, 41, { url: B, revision: 2 }, 2), read(25, 26, { url: A, revision: 1 }, 1)];
    const result = run(history, ROWS, {}, [{ fault: 'postgres-cut', start: 25, healed: 35 }]);
    expect(found(result)).toEqual([]);
    expect(result.indeterminateCommitted).toBe(1);
  });

  it('places a DELETE whose answer was lost between the commits around it', () => {
    const cut: FaultWindow = { fault: 'postgres-cut', start: 15, healed: 60 };
    const history = [put(0, 10, A, 1), del(20, 40, undefined), del(45, 55, undefined), put(50, 60, B, 3, { status: 201 })];
    const result = run(history, [row(1, A), row(2, null), row(3, B)], {}, [cut]);
    expect(found(result)).toEqual([]);
    expect(result.indeterminateCommitted).toBe(1);
    // Nobody deleted between the two PUTs: the row is a write no client made.
    expect(found(run([put(0, 10, A, 1), put(50, 60, B, 3, { status: 201 })], [row(1, A), row(2, null), row(3, B)]))).toEqual([expect.stringMatching(/^G1: outbox row 2 \(delete acme\/checkout\/prod\) was written by no client/)]);
  });

  it('G1: an acknowledged write missing from the outbox, and a value nobody wrote', () => {
    const history = [put(0, 10, A, 1), put(20, 30, B, 2), read(40, 41, { url: 'https://ghost.test/', revision: 2 }, 2)];
    const result = run(history, [row(1, A)]);
    expect(found(result)).toEqual(expect.arrayContaining([expect.stringMatching(/^G1: answered revision 2, but the outbox holds nothing/), expect.stringMatching(/^G1: a read returned a value that no committed write produced/)]));
  });

  it('G1: an If-Match write that succeeded over another revision, and a refusal while its revision was current', () => {
    const history = [put(0, 10, A, 1), put(20, 30, B, 2, { kind: 'put-if-match', ifMatch: 7 }), put(40, 50, 'https://c.test/', undefined, { kind: 'put-if-match', ifMatch: 2, status: 412 })];
    expect(found(run(history, ROWS))).toEqual([expect.stringMatching(/If-Match 7 succeeded over revision 1/), expect.stringMatching(/If-Match 2 refused while revision 2 was current throughout/)]);
  });

  it('G1: a strong read that misses a write answered before it started', () => {
    const history = [put(0, 10, A, 1), put(20, 30, B, 2), read(40, 41, { url: A, revision: 1 }, 1, { mode: 'strong', cache: 'BYPASS' })];
    expect(found(run(history, ROWS))).toEqual(expect.arrayContaining([expect.stringMatching(/^G1: a strong read as of 1 missed revision 2/)]));
  });

  it('G2: revisions out of real-time order, and a gap in the outbox', () => {
    const history = [put(0, 10, B, 2), put(20, 30, A, 1)];
    const result = run(history, [row(1, A), row(2, B), row(4, null)]);
    expect(found(result)).toEqual(expect.arrayContaining([expect.stringMatching(/^G2: a write got revision 1, not above 2/), expect.stringMatching(/^G2: outbox revisions are not dense: 3 has no row \(next: 4\)/)]));
  });

  it('G2 and G7: a revision of many rows (a change set) is dense; a route twice in one revision is not', () => {
    const other = (r: OutboxRow, key: string): OutboxRow => ({ ...r, key, eventId: `${r.eventId}-${key}` });
    const history = [put(0, 10, A, 1), put(20, 30, B, 2)];
    const rows = [row(1, A), row(2, B)];
    // Revision 2 also changed two other routes (a change set of three): nothing to flag about the outbox.
    const set = [...rows, other(row(2, 'https://x.test/'), 'acme/x/prod'), other(row(2, 'https://y.test/'), 'acme/y/prod')];
    expect(found(run(history, set)).filter((f) => /outbox revisions|more than once/.test(f))).toEqual([]);
    const twice = [...rows, { ...row(2, B), eventId: 'again' }];
    expect(found(run(history, twice))).toEqual(expect.arrayContaining([expect.stringMatching(/^G7: outbox revision 2 holds acme\/checkout\/prod more than once/)]));
  });

  it('G2: an answer that is not the state as of the revision it claims', () => {
    const history = [put(0, 10, A, 1), put(20, 30, B, 2), read(40, 41, { url: A, revision: 1 }, 2)];
    expect(found(run(history, ROWS))).toEqual([expect.stringMatching(/^G2: as of 2 the route was https:\/\/b.test\/ \(rev 2\)/)]);
  });

  it('G3: a value superseded for longer than the TTL, unless STALE while PostgreSQL was cut', () => {
    const history = [put(0, 10, A, 1), put(20, 30, B, 2), read(1_100, 1_101, { url: A, revision: 1 }, 1), read(1_200, 1_201, { url: A, revision: 1 }, 1, { cache: 'STALE' })];
    const cut: FaultWindow = { fault: 'postgres-cut', start: 1_150, healed: 1_300 };
    expect(found(run(history, ROWS, {}, [cut]))).toEqual([expect.stringMatching(/^G3: the value had been superseded 1070 ms before the read \(TTL 1000 ms\)/)]);
    expect(found(run(history, ROWS))).toEqual(expect.arrayContaining([expect.stringMatching(/^G3: a STALE answer while PostgreSQL was reachable/)]));
  });

  it('G5: a minimum revision not honoured, and a session reading backwards', () => {
    const history = [
      put(0, 10, A, 1),
      put(20, 30, B, 2),
      read(40, 41, { url: A, revision: 1 }, 1, { mode: 'min-revision', minRevision: 2 }),
      read(50, 51, { url: B, revision: 2 }, 2, { mode: 'min-revision', minRevision: 2 }),
      read(60, 61, { url: A, revision: 1 }, 1, { mode: 'min-revision', minRevision: 1 }),
    ];
    expect(found(run(history, ROWS))).toEqual([expect.stringMatching(/^G5: X-Min-Revision 2 answered as of 1/), expect.stringMatching(/^G5: the session read version 1 after having seen 2/)]);
  });

  it('G6: a cache entry or a resolver answer that differs from the database after the drain', () => {
    const history = [put(0, 10, A, 1), put(20, 30, B, 2)];
    const stale = read(100, 101, { url: A, revision: 1 }, 1);
    const result = run(history, ROWS, { cache: new Map([[KEY, { route: { url: A, revision: 1 }, asOf: 1 }]]), finalReads: [stale] });
    expect(found(result)).toEqual([expect.stringMatching(/^G6: acme\/checkout\/prod: the cache holds https:\/\/a.test\/ rev 1/), expect.stringMatching(/^G6: after quiescence resolver 0 answered 200/)]);
  });

  it('G7: a row missing from the topic, and revisions of a key out of order', () => {
    const history = [put(0, 10, A, 1), put(20, 30, B, 2), del(40, 50, 3)];
    const rows = [...ROWS, row(3, null)];
    const topic = [event(rows[1] as OutboxRow, 0), event(rows[0] as OutboxRow, 1)];
    expect(found(run(history, rows, { topic, routes: new Map() }))).toEqual([
      expect.stringMatching(/^G7: outbox row 3 \(acme\/checkout\/prod\) is not on the topic/),
      expect.stringMatching(/^G7: acme\/checkout\/prod: revision 1 first arrived after 2/),
    ]);
  });

  it('G8: a 500, or a failure while only Redis was cut', () => {
    const history = [put(0, 10, A, 1), read(20, 21, null, 1, { status: 500 }), read(30, 31, null, 1, { status: null, error: 'ECONNREFUSED' })];
    const redis: FaultWindow = { fault: 'redis-cut', start: 25, healed: 40 };
    expect(found(run(history, [row(1, A)], {}, [redis]))).toEqual([expect.stringMatching(/^G8: unexpected status 500/), expect.stringMatching(/^G8: no answer while only redis-cut had failed/)]);
  });

  it('measures convergence after a fault from the default-mode reads', () => {
    const history = [put(0, 10, A, 1), put(20, 30, B, 2), read(200, 201, { url: A, revision: 1 }, 1), read(260, 261, { url: B, revision: 2 }, 2)];
    const worker: FaultWindow = { fault: 'worker-kill', start: 5, healed: 100 };
    const result = run(history, ROWS, {}, [worker]);
    expect(result.convergence).toEqual([{ fault: 'worker-kill', healed: 100, ms: 101 }]);
  });
});

// Change sets: KEY and KEY2 together at one revision.
const KEY2 = 'globex/billing/prod';
const C = 'https://c.test/';
const X = 'https://x.test/';
function set(start: number, end: number, changes: SetChange[], status: number | null, revision?: number, extra: Partial<ChangeSetOp> = {}): ChangeSetOp {
  return { id: nextId++, type: 'changeset', client: 2, start, end, status, changes, ...(revision !== undefined ? { revision } : {}), ...extra };
}
function rowOf(key: string, revision: number, url: string | null): OutboxRow {
  return { ...row(revision, url), key, eventId: `e${revision}-${key}` };
}
/** A put of KEY (updated over revision 1) and a put of KEY2 (created), both at revision 2. */
const SET_CHANGES = (): SetChange[] => [
  { key: KEY, op: 'put', url: C, ifRevision: 1, result: 'updated', revision: 2 },
  { key: KEY2, op: 'put', url: X, ifAbsent: true, result: 'created', revision: 2 },
];
const SET_ROWS = [row(1, A), rowOf(KEY, 2, C), rowOf(KEY2, 2, X)];
const readOf = (key: string, start: number, answer: { url: string; revision: number } | null, asOf: number, extra: Partial<ReadOp> = {}) => read(start, start + 1, answer, asOf, { key, ...extra });

describe('change sets (rule A)', () => {
  it('passes a set committed whole, read before and after its revision, and one refused that left nothing', () => {
    const refused = set(40, 50, [{ key: KEY, op: 'put', url: 'https://r.test/', ifRevision: 1 }, { key: KEY2, op: 'delete', url: null }], 412, undefined, { conflicts: [{ route: KEY, expected: 1, actual: 2 }] });
    const history = [
      put(0, 10, A, 1),
      set(20, 30, SET_CHANGES(), 201, 2),
      refused,
      readOf(KEY, 25, { url: A, revision: 1 }, 1),
      readOf(KEY2, 25, null, 1),
      readOf(KEY, 35, { url: C, revision: 2 }, 2),
      readOf(KEY2, 35, { url: X, revision: 2 }, 2, { sdk: true, cache: 'sdk-memory', mode: 'min-revision', minRevision: 2 }),
    ];
    expect(found(run(history, SET_ROWS))).toEqual([]);
  });

  it('flags a committed set with a route missing from its revision, a route it did not change there, and an unchanged route with a row', () => {
    const missing = [row(1, A), rowOf(KEY, 2, C)];
    expect(found(run([put(0, 10, A, 1), set(20, 30, SET_CHANGES(), 201, 2)], missing))).toEqual(
      expect.arrayContaining([`A: change set 2: ${KEY2} answered created, but revision 2 has no row of it`]),
    );
    const extra = [...SET_ROWS, rowOf('acme/other/prod', 2, null)];
    expect(found(run([put(0, 10, A, 1), set(20, 30, SET_CHANGES(), 201, 2)], extra))).toEqual(
      expect.arrayContaining(['A: change set 2: revision 2 has a row of acme/other/prod, which the set did not change']),
    );
    const unchanged: SetChange[] = [...SET_CHANGES(), { key: 'acme/gone/prod', op: 'delete', url: null, result: 'unchanged', revision: null }];
    const withRow = [...SET_ROWS, rowOf('acme/gone/prod', 2, null)];
    expect(found(run([put(0, 10, A, 1), set(20, 30, unchanged, 201, 2)], withRow))).toEqual(
      expect.arrayContaining(['A: change set 2: acme/gone/prod answered unchanged, but revision 2 has a row of it']),
    );
  });

  it('flags a set whose answer was lost and that committed only part of itself', () => {
    const lost = set(20, 30, SET_CHANGES().map(({ result: _r, revision: _v, ...c }) => c), null);
    const cut: FaultWindow = { fault: 'postgres-cut', start: 25, healed: 35 };
    expect(found(run([put(0, 10, A, 1), lost], [row(1, A), rowOf(KEY, 2, C)], {}, [cut]))).toEqual([`A: a change set (answer lost) committed at 2 without its put of ${KEY2}`]);
    // Whole, it passes (and counts as a lost answer that committed).
    const whole = run([put(0, 10, A, 1), lost], SET_ROWS, {}, [cut]);
    expect(found(whole)).toEqual([]);
    expect(whole.indeterminateCommitted).toBe(1);
  });

  it('flags a refused set that left a row or shows in a read, and a 412 while every compare held', () => {
    const refused = set(20, 30, [{ key: KEY, op: 'put', url: C, ifRevision: 1 }, { key: KEY2, op: 'put', url: X }], 412);
    expect(found(run([put(0, 10, A, 1), refused], [row(1, A), rowOf(KEY, 2, C)]))).toEqual([`A: a change set refused with 412 committed its change of ${KEY} as revision 2`]);
    expect(found(run([put(0, 10, A, 1), refused], [row(1, A)]))).toEqual(['G1: a change set refused with 412 while every compare held throughout']);
    const bad = set(20, 30, [{ key: KEY, op: 'put', url: C }, { key: KEY2, op: 'put', url: X, invalid: true }], 400);
    expect(found(run([put(0, 10, A, 1), bad, readOf(KEY, 40, { url: C, revision: 2 }, 2)], [row(1, A)]))).toEqual([`A: a read shows ${C}, a change of a change set refused with 400`]);
  });

  it('flags reads that see part of a set: a change shown below its revision, a change missed at or above it (answers and SDK views)', () => {
    const history = [
      put(0, 10, A, 1),
      set(20, 30, SET_CHANGES(), 201, 2),
      readOf(KEY, 40, { url: A, revision: 1 }, 2),
      readOf(KEY2, 40, null, 2),
      readOf(KEY, 25, { url: C, revision: 2 }, 1, { sdk: true, cache: 'sdk-memory' }),
    ];
    expect(found(run(history, SET_ROWS))).toEqual([
      `A: a read as of 1 shows change set 2's change of ${KEY} (${C})`,
      `A: a read as of 2 misses change set 2's change of ${KEY} (it shows rev 1)`,
      `A: a 404 as of 2 misses change set 2's put of ${KEY2}`,
    ]);
  });

  it("flags a set's answer that the outbox contradicts: a compare that did not hold, a result against the state before", () => {
    const changes = SET_CHANGES();
    (changes[0] as SetChange).ifRevision = 7;
    (changes[1] as SetChange).result = 'updated';
    expect(found(run([put(0, 10, A, 1), set(20, 30, changes, 200, 2)], SET_ROWS))).toEqual([
      `G1: change set 2: ${KEY}'s ifRevision 7 succeeded over revision 1`,
      `G1: change set 2: ${KEY2} answered updated, but it did not exist`,
    ]);
  });

  it('flags two requests in one revision, and a single-route write whose revision holds many rows', () => {
    const lone = put(20, 30, C, 2);
    const rows = [row(1, A), rowOf(KEY, 2, C), rowOf(KEY2, 2, X)];
    const other = set(22, 28, [{ key: KEY2, op: 'put', url: X, result: 'created', revision: 2 }], 201, 2);
    expect(found(run([put(0, 10, A, 1), lone, other], rows))).toEqual(
      expect.arrayContaining([
        'A: revision 2 holds the rows of 2 requests',
        `G7: a single-route write answered revision 2, which holds 2 rows (${KEY}, ${KEY2})`,
        'G2: two writes answered the same revision 2',
      ]),
    );
  });

  it('G2: a 404 as of a revision at which the route existed (no change set involved)', () => {
    expect(found(run([put(0, 10, A, 1), read(20, 21, null, 1)], [row(1, A)]))).toEqual([`G2: a 404 as of 1, when the route was ${A} (rev 1)`]);
  });
});

describe('a long run', () => {
  it('checks and reports a history longer than a call can take as arguments (a 10-minute run has over 200,000 operations)', () => {
    const history: Op[] = [put(0, 1, A, 1)];
    for (let i = 0; i < 250_000; i++) history.push(read(2 + i, 3 + i, { url: A, revision: 1 }, 1));
    const rows = [row(1, A)];
    const result = run(history, rows);
    expect(found(result)).toEqual([]);
    const report = renderReport({ history, faults: [], final: finalState(rows), ttlSeconds: 1, clients: 2, seed: 1, startedAt: 0, result });
    expect(report).toContain('250001 operations by 2 clients in 250 s');
  });
});
