import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FaultWindow, Op } from './history';
import { renderReport } from './report';
import { checkSaved } from './run';
import { loadRun, saveRun, type SavedRun } from './saved';

// `--recheck <dir>` reads runs saved by older versions of the checker as well as its own.

const KEY = 'acme/checkout/prod';
const URL = 'https://a.test/';
const row = { revision: 1, key: KEY, eventId: 'e1', deleted: false, url: URL, published: true };
const put: Op = { id: 0, type: 'write', kind: 'put', client: 0, key: KEY, start: 0, end: 10, url: URL, status: 201, revision: 1 };
const read = (id: number, start: number, extra: Partial<Op> = {}): Op =>
  ({ id, type: 'read', mode: 'default', resolver: 0, client: 1, key: KEY, start, end: start + 5, status: 200, url: URL, revision: 1, asOf: 1, cache: 'HIT', ...extra }) as Op;

describe('saved runs', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'tm-consistency-saved-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('loads and checks a run saved before the revoke fault (no AUTH_CACHE_TTL_MS, credentials, timed refusals nor stream times)', async () => {
    const cut = { type: 'fault', fault: 'postgres-cut', start: 20, healed: 30 };
    writeFileSync(join(dir, 'history.jsonl'), [cut, put, read(1, 40)].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const watcher = { name: 'acme /v1/watch', tenant: 'acme', segments: [{ resolver: 0, since: 0, frames: [{ kind: 'change', revision: 1, key: KEY, url: URL, deleted: false, eventId: 'e1', at: 12 }] }], compacted: 0, refused: { '503': 2 } };
    const state = { outbox: [row], routes: [[KEY, { url: URL, revision: 1 }]], cache: [[KEY, { route: { url: URL, revision: 1 }, asOf: 1 }]], topic: [{ partition: 0, offset: 0, key: KEY, eventId: 'e1', subject: KEY, deleted: false, url: URL, revision: 1 }], finalReads: [], drainMs: 5, watchers: [watcher] };
    writeFileSync(join(dir, 'final.json'), JSON.stringify({ ttlSeconds: 3, clients: 2, seed: 7, startedAt: 0, final: state }));
    const saved = await loadRun(dir);
    expect(saved.faults).toEqual([{ fault: 'postgres-cut', start: 20, healed: 30 }]);
    expect(saved.authCacheTtlMs).toBeUndefined();
    const result = checkSaved(saved);
    expect(result.violations).toEqual([]);
    expect(result.revocations).toEqual([]);
    const report = renderReport({ ...saved, result });
    expect(report).toContain('No violations.');
    expect(report).not.toContain('### Revocations');
  });

  it('keeps what a run with the revoke fault records', async () => {
    const revoke: FaultWindow = { fault: 'revoke', start: 50, healed: 3_000, credential: 'victim-1', revokedAt: 60 };
    const cut: FaultWindow = { fault: 'postgres-cut', start: 4_000, healed: 5_000, remembered: [] };
    const segment = { resolver: 1, since: 1, startedAt: 20, openedAt: 25, endedAt: 400, frames: [] };
    const watcher = { name: 'victim-1 /v1/watch/acme', tenant: 'acme', credential: 'victim-1', segments: [segment], compacted: 0, refused: { '401': 1 }, refusals: [{ start: 1_500, end: 1_505, status: '401' }] };
    const run: SavedRun = {
      history: [put, read(1, 40, { credential: 'victim-1' }), read(2, 1_400, { credential: 'victim-1', status: 401 })],
      faults: [revoke, cut],
      final: { outbox: [row], routes: new Map([[KEY, { url: URL, revision: 1 }]]), cache: new Map(), topic: [], finalReads: [], drainMs: 1, watchers: [watcher] },
      ttlSeconds: 3,
      authCacheTtlMs: 1_000,
      clients: 2,
      seed: 7,
      startedAt: 0,
    };
    await saveRun(dir, run);
    const loaded = await loadRun(dir);
    expect(loaded).toEqual(run);
    expect(checkSaved(loaded).revocations).toEqual([expect.objectContaining({ credential: 'victim-1', firstRefused: 1_345, after: 2, refused: 2 })]);
  });
});
