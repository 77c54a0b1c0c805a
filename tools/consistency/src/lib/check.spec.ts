import { check, type CheckResult } from './check';
import { renderReport } from './report';
import type { FaultWindow, FinalState, Op, OutboxRow, ReadOp, TopicEvent, WriteOp } from './history';

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
  const last = rows.at(-1);
  return {
    outbox: rows,
    routes: new Map(last && last.url !== null ? [[KEY, { url: last.url, revision: last.revision }]] : []),
    cache: new Map(last ? [[KEY, { route: last.url === null ? null : { url: last.url, revision: last.revision }, asOf: last.revision }]] : []),
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
