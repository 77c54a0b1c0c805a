import { check } from './check';
import type { FaultWindow, FinalState, Op, OutboxRow, ReadOp } from './history';
import { renderReport } from './report';
import { checkRevocations } from './revoke-check';
import type { WatcherLog, WatchFrame, WatchSegment } from './watchers';

// Rule R on hand-written histories. Times are ms; AUTH_CACHE_TTL_MS is 1 s and the slack 250 ms, so
// a key revoked at 10,000 is bound at 11,250.

const TTL = 1_000;
const KEY = 'acme/checkout/prod';
const URL = 'https://a.test/';
const REVOKE: FaultWindow = { fault: 'revoke', start: 9_990, healed: 13_000, credential: 'victim-1', revokedAt: 10_000 };

let nextId = 0;
function read(start: number, status: number | null, credential = 'victim-1', end = start + 5): ReadOp {
  const answered = status === 200 ? { url: URL, revision: 1, asOf: 1, cache: 'HIT' } : status === 404 ? { url: null, asOf: 1 } : {};
  return { id: nextId++, type: 'read', mode: 'default', resolver: 0, client: 9, key: KEY, start, end, status, credential, ...answered };
}
const bookmark = (at: number, revision = 1): WatchFrame => ({ kind: 'bookmark', revision, ageMs: 0, at });
function watcher(segments: WatchSegment[], refusals: { start: number; status: string }[] = [], credential = 'victim-1'): WatcherLog {
  return {
    name: `${credential} /v1/watch/acme`,
    tenant: 'acme',
    credential,
    segments,
    compacted: 0,
    refused: {},
    refusals: refusals.map((r) => ({ ...r, end: r.start + 5 })),
  };
}
/** The stream open at the revocation, ended by the resolver's check 600 ms after it. */
const OPEN: WatchSegment = { resolver: 0, since: 1, startedAt: 1_000, openedAt: 1_010, endedAt: 10_600, frames: [bookmark(9_500), bookmark(10_500)] };

const messages = (history: Op[], watchers: WatcherLog[], faults: FaultWindow[] = [REVOKE]) => checkRevocations(history, faults, watchers, { authCacheTtlMs: TTL }).findings.map((f) => f.message);

describe('rule R: revocation', () => {
  it('passes a key accepted until its cache entry expires and refused after, and a stream ended within the TTL', () => {
    const history = [read(9_000, 200), read(10_900, 200), read(11_240, 404), read(11_300, 401), read(12_000, 401)];
    const w = watcher([OPEN], [{ start: 10_700, status: '401' }, { start: 11_400, status: '401' }, { start: 11_900, status: 'TypeError' }]);
    const { findings, summaries } = checkRevocations(history, [REVOKE], [w], { authCacheTtlMs: TTL });
    expect(findings).toEqual([]);
    expect(summaries).toEqual([{ credential: 'victim-1', revokedAt: 10_000, firstRefused: 705, lastAccepted: 1_240, lastFrame: 500, streamsEnded: 600, after: 4, refused: 3 }]);
  });

  it('flags an answer other than 401, 403 or 503 to a request that started after the bound', () => {
    expect(messages([read(11_260, 200), read(11_300, 404), read(11_400, 503), read(11_500, 403), read(11_600, null)], [])).toEqual([
      'a request that started 1260 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms) was answered 200',
      'a request that started 1300 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms) was answered 404',
    ]);
    // Another credential (the next generation, or a tenant key) is no business of this revocation.
    const { credential: _victim, ...tenantKey } = read(11_260, 200);
    expect(messages([read(11_260, 200, 'victim-2'), tenantKey], [])).toEqual([]);
  });

  it('flags a watch frame that arrived after the bound, a stream opened after it, and a 410 (the key passed) after it', () => {
    const late: WatchSegment = { ...OPEN, endedAt: 11_600, frames: [bookmark(10_500), bookmark(11_500), bookmark(11_550)] };
    expect(messages([], [watcher([late])])).toEqual(['victim-1 /v1/watch/acme: connection 1 received bookmark 1 1500 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms), and 1 more frames']);
    const opened: WatchSegment = { resolver: 1, since: 1, startedAt: 11_300, openedAt: 11_320, endedAt: 11_400, frames: [] };
    expect(messages([], [watcher([OPEN, opened], [{ start: 11_260, status: '410' }])])).toEqual([
      'victim-1 /v1/watch/acme: a connection that started 1260 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms) was answered 410',
      'victim-1 /v1/watch/acme: connection 2, a stream, that started 1300 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms) was answered 200',
    ]);
    const snapshot: WatchSegment = { resolver: 1, startedAt: 1_000, openedAt: 1_010, endedAt: 11_400, snapshot: { asOf: 1, routes: [], at: 11_300 }, frames: [] };
    expect(messages([], [watcher([snapshot])])).toEqual([expect.stringMatching(/connection 1 received the snapshot 1300 ms/)]);
  });

  it('holds a stream opened after the revocation, by a replica that still trusted the key, to the TTL from its opening', () => {
    // Opened at +900 (the other replica's cache entry was still valid), ended by that replica's check at +1,400.
    const resumed: WatchSegment = { resolver: 1, since: 1, startedAt: 10_890, openedAt: 10_900, endedAt: 11_400, frames: [bookmark(11_350)] };
    expect(messages([], [watcher([OPEN, resumed])])).toEqual([]);
    const endless: WatchSegment = { ...resumed, endedAt: 12_500, frames: [bookmark(11_350), bookmark(12_200)] };
    expect(messages([], [watcher([OPEN, endless])])).toEqual([
      "victim-1 /v1/watch/acme: connection 2 received bookmark 1 2200 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms from the stream's opening, 900 ms after victim-1 was revoked)",
    ]);
  });

  it('excuses a PostgreSQL cut only for a key whose outage credential was still remembered when it began', () => {
    // The key reads during the cut and for the TTL after it, and a stream it resumed then ends at the first check after the heal.
    const history = [read(20_000, 200), read(21_100, 200), read(21_400, 401)];
    const resumed: WatchSegment = { resolver: 0, since: 1, startedAt: 20_100, openedAt: 20_110, endedAt: 21_300, frames: [bookmark(20_500), bookmark(21_200)] };
    const w = watcher([OPEN, resumed]);
    const cut = (remembered?: string[]): FaultWindow => ({ fault: 'postgres-cut', start: 19_000, healed: 20_300, ...(remembered ? { remembered } : {}) });
    expect(messages(history, [w], [REVOKE, cut(['victim-1'])])).toEqual([]);
    // Runs saved before the field: every revoked key may have been remembered.
    expect(messages(history, [w], [REVOKE, cut()])).toEqual([]);
    // Its record was gone (the database had called it revoked): the outage gives it nothing.
    expect(messages(history, [w], [REVOKE, cut([])])).toEqual([
      'a request that started 10000 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms) was answered 200',
      'a request that started 11100 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms) was answered 200',
      // Its frames are the opening's (flagged): within the TTL of it, as for any stream opened after the revocation.
      'victim-1 /v1/watch/acme: connection 2, a stream, that started 10100 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms) was answered 200',
    ]);
    // Past the heal + the TTL + slack, the cut excuses nothing more.
    expect(messages([read(21_600, 200)], [], [REVOKE, cut(['victim-1'])])).toEqual([expect.stringMatching(/started 11600 ms/)]);
  });
});

describe('the checker with rule R', () => {
  const rows: OutboxRow[] = [{ revision: 1, key: KEY, eventId: 'e1', deleted: false, url: URL, published: true }];
  const final = (watchers: WatcherLog[]): FinalState => ({
    outbox: rows,
    routes: new Map([[KEY, { url: URL, revision: 1 }]]),
    cache: new Map([[KEY, { route: { url: URL, revision: 1 }, asOf: 1 }]]),
    topic: [{ partition: 0, offset: 0, key: KEY, eventId: 'e1', subject: KEY, deleted: false, url: URL, revision: 1 }],
    finalReads: [],
    drainMs: 0,
    watchers,
  });
  const write: Op = { id: nextId++, type: 'write', kind: 'put', client: 0, key: KEY, start: 0, end: 10, url: URL, status: 201, revision: 1 };
  const options = { ttlMs: 3_000, authCacheTtlMs: TTL, recoveryMs: 2_000 };
  const found = (history: Op[], watchers: WatcherLog[]) => check([write, ...history], [REVOKE], final(watchers), options).violations.map((v) => `${v.guarantee}: ${v.message}`);
  const current = watcher([{ resolver: 0, startedAt: 12_000, openedAt: 12_010, endedAt: 14_000, snapshot: { asOf: 1, routes: [{ key: KEY, url: URL, revision: 1 }], at: 12_020 }, frames: [bookmark(13_000)] }], [], 'victim-2');

  it('takes the refusals of a revoked key as due (G8), and no longer waits for its watcher to catch up (W)', () => {
    expect(found([read(9_000, 200), read(11_300, 401), read(12_500, 200, 'victim-2')], [watcher([OPEN], [{ start: 11_300, status: '401' }]), current])).toEqual([]);
  });

  it('flags a refusal of a key not revoked (G8), a watcher of a valid key that did not catch up (W), and a late answer (R)', () => {
    const behind = watcher([{ resolver: 0, since: 0, startedAt: 12_000, openedAt: 12_010, endedAt: 14_000, frames: [] }], [], 'victim-2');
    const result = check([write, read(9_000, 401), read(12_500, 401, 'victim-2'), read(11_300, 200)], [REVOKE], final([watcher([OPEN]), behind]), options);
    expect(result.violations.map((v) => `${v.guarantee}: ${v.message}`)).toEqual([
      'G8: unexpected status 401',
      'G8: unexpected status 401',
      'W: victim-2 /v1/watch/acme: its last bookmark is at 0, the store at 1 after the drain',
      'R: a request that started 1300 ms after victim-1 was revoked (the bound: 1000 ms + 250 ms) was answered 200',
    ]);
    const report = renderReport({ history: [write], faults: [REVOKE], final: final([]), ttlSeconds: 3, authCacheTtlMs: TTL, clients: 1, seed: 1, startedAt: 0, result });
    expect(report).toContain('| R         | a revoked key');
    expect(report).toMatch(/\| victim-1 \|\s+10\.0 \|/);
    expect(report).toMatch(/#\d+ client 9 with victim-1 GET acme\/checkout\/prod \(default, resolver 0\) \[11300\.0\.\.11305\.0\] -> 200 /);
  });
});
