import type { OutboxRow } from './history';
import { checkWatchers } from './watch-check';
import type { WatcherLog, WatchFrame, WatchSegment } from './watchers';

const rows: OutboxRow[] = [
  { revision: 1, key: 'a/web/prod', eventId: 'e1', deleted: false, url: 'https://1', published: true },
  { revision: 2, key: 'b/web/prod', eventId: 'e2', deleted: false, url: 'https://2', published: true },
  { revision: 3, key: 'a/api/prod', eventId: 'e3', deleted: false, url: 'https://3', published: true },
  { revision: 4, key: 'a/web/prod', eventId: 'e4', deleted: true, url: null, published: true },
  { revision: 5, key: 'b/web/prod', eventId: 'e5', deleted: false, url: 'https://5', published: true },
];

const change = (r: number): WatchFrame => {
  const row = rows[r - 1] as OutboxRow;
  return { kind: 'change', revision: r, key: row.key, url: row.url, deleted: row.deleted, eventId: row.eventId, at: 0 };
};
const bookmark = (r: number): WatchFrame => ({ kind: 'bookmark', revision: r, ageMs: 0, at: 0 });
const log = (tenant: string | null, segments: WatchSegment[]): WatcherLog => ({ name: 'w', tenant, segments, compacted: 0, refused: {} });
const messages = (l: WatcherLog) => checkWatchers([l], rows).map((f) => f.message);

describe('checkWatchers', () => {
  it('accepts a snapshot, a disconnect and a resume that together hold every change once', () => {
    const ok = log('a', [
      { resolver: 0, snapshot: { asOf: 1, routes: [{ key: 'a/web/prod', url: 'https://1', revision: 1 }] }, frames: [bookmark(2), change(3)] },
      { resolver: 1, since: 3, frames: [change(4), bookmark(5)] },
    ]);
    expect(messages(ok)).toEqual([]);
    const everyTenant = log(null, [{ resolver: 0, since: 0, frames: [change(1), change(2), change(3), change(4), change(5), bookmark(5)] }]);
    expect(messages(everyTenant)).toEqual([]);
  });

  it('flags a gap, a repeat, a change outside the filter, a wrong value and a bookmark ahead of what was sent', () => {
    expect(messages(log('a', [{ resolver: 0, since: 0, frames: [change(1), change(4), bookmark(5)] }]))).toEqual(['connection 1: change 3 skipped (next came 4)']);
    expect(messages(log('a', [{ resolver: 0, since: 0, frames: [change(1), change(3), change(3), change(4), bookmark(5)] }]))).toEqual([
      'connection 1: change 3 after id 3 (a repeat or out of order)',
    ]);
    expect(messages(log('a', [{ resolver: 0, since: 0, frames: [change(1), change(2), change(3), change(4), bookmark(5)] }]))).toEqual([
      'connection 1: change 2 of b/web/prod is outside the filter',
    ]);
    const wrong = { ...(change(3) as Extract<WatchFrame, { kind: 'change' }>), url: 'https://other' };
    expect(messages(log('a', [{ resolver: 0, since: 2, frames: [wrong, change(4), bookmark(5)] }]))).toEqual([
      'connection 1: change 3 is a/api/prod https://other, the outbox has a/api/prod https://3',
    ]);
    expect(messages(log('a', [{ resolver: 0, since: 0, frames: [change(1), bookmark(3), change(3), change(4), bookmark(5)] }]))).toEqual([
      'connection 1: bookmark 3 covers change 3, not sent',
      'connection 1: change 3 after id 3 (a repeat or out of order)',
    ]);
  });

  it('flags a snapshot that is not the state as of its revision, and a watcher that never caught up', () => {
    const snapshot = log('a', [{ resolver: 0, snapshot: { asOf: 4, routes: [{ key: 'a/web/prod', url: 'https://1', revision: 1 }] }, frames: [bookmark(5)] }]);
    expect(messages(snapshot)).toEqual([
      'connection 1: snapshot at 4 has a/web/prod, which did not exist then',
      'connection 1: snapshot at 4 lacks a/api/prod',
    ]);
    expect(messages(log('a', [{ resolver: 0, since: 0, frames: [change(1), change(3), bookmark(3)] }]))).toEqual([
      'its last bookmark is at 3, the store at 5 after the drain',
    ]);
  });
});
