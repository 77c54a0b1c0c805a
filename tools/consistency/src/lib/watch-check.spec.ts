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

// Revision 6 is a change set of three routes: two of tenant a, one of tenant b.
const setRows: OutboxRow[] = [
  ...rows,
  { revision: 6, key: 'a/api/prod', eventId: 'e6-api', deleted: true, url: null, published: true },
  { revision: 6, key: 'a/web/prod', eventId: 'e6-web', deleted: false, url: 'https://6', published: true },
  { revision: 6, key: 'b/web/prod', eventId: 'e6-b', deleted: false, url: 'https://6b', published: true },
];
/** The frame of revision 6's route `key`, with its id line (the last of the stream's share) or none. */
const setFrame = (key: string, id: boolean, extra: Partial<WatchFrame> = {}): WatchFrame => {
  const row = setRows.find((r) => r.revision === 6 && r.key === key) as OutboxRow;
  return { kind: 'change', revision: 6, id: id ? 6 : null, setSize: 3, key, url: row.url, deleted: row.deleted, eventId: row.eventId, at: 0, ...extra } as WatchFrame;
};
const setMessages = (l: WatcherLog) => checkWatchers([l], setRows).map((f) => f.message);

describe('checkWatchers: a revision of many routes (a change set)', () => {
  it("accepts each stream's share together, in route-key order, the id on its last frame only", () => {
    expect(setMessages(log('a', [{ resolver: 0, since: 5, frames: [setFrame('a/api/prod', false), setFrame('a/web/prod', true), bookmark(6)] }]))).toEqual([]);
    expect(setMessages(log('b', [{ resolver: 0, since: 5, frames: [setFrame('b/web/prod', true), bookmark(6)] }]))).toEqual([]);
    const all = log(null, [{ resolver: 0, since: 5, frames: [setFrame('a/api/prod', false), setFrame('a/web/prod', false), setFrame('b/web/prod', true), bookmark(6)] }]);
    expect(setMessages(all)).toEqual([]);
  });

  it('flags a bookmark between the frames of one revision, and the frames of another revision among them', () => {
    expect(setMessages(log('a', [{ resolver: 0, since: 5, frames: [setFrame('a/api/prod', false), bookmark(5), setFrame('a/web/prod', true), bookmark(6)] }]))).toEqual([
      "connection 1: revision 6's frames end without its id line: bookmark 5 came after 1 of them",
      'connection 1: revision 6 came without a/web/prod (its share is 2 of 3 routes)',
      'connection 1: bookmark 5 after id 6',
      'connection 1: change 6 after id 6 (a repeat or out of order)',
    ]);
    const mixed = log(null, [{ resolver: 0, since: 4, frames: [setFrame('a/api/prod', false), change(5), setFrame('a/web/prod', false), setFrame('b/web/prod', true), bookmark(6)] }]);
    expect(setMessages(mixed)).toEqual(expect.arrayContaining(["connection 1: revision 6's frames end without its id line: a frame of revision 5 came after 1 of them"]));
  });

  it("flags an id before the revision's last frame, a share not whole, route-key order broken, a wrong changesetsize, and a revision sent again after a resume", () => {
    expect(setMessages(log('a', [{ resolver: 0, since: 5, frames: [setFrame('a/api/prod', true), setFrame('a/web/prod', true), bookmark(6)] }]))).toEqual([
      'connection 1: revision 6 came without a/web/prod (its share is 2 of 3 routes)',
      'connection 1: revision 6: a/web/prod came after the frame with its id line (a/api/prod)',
    ]);
    expect(setMessages(log('a', [{ resolver: 0, since: 5, frames: [setFrame('a/web/prod', true), bookmark(6)] }]))).toEqual([
      'connection 1: revision 6 came without a/api/prod (its share is 2 of 3 routes)',
    ]);
    expect(setMessages(log('a', [{ resolver: 0, since: 5, frames: [setFrame('a/web/prod', false), setFrame('a/api/prod', true), bookmark(6)] }]))).toEqual([
      'connection 1: revision 6: a/api/prod came after a/web/prod (not in route-key order)',
    ]);
    expect(setMessages(log('b', [{ resolver: 0, since: 5, frames: [setFrame('b/web/prod', true, { setSize: 1 }), bookmark(6)] }]))).toEqual([
      "connection 1: revision 6: b/web/prod's changesetsize is 1, the revision changed 3 routes",
    ]);
    const again = log('b', [
      { resolver: 0, since: 5, frames: [setFrame('b/web/prod', true)] },
      { resolver: 1, since: 6, frames: [setFrame('b/web/prod', true), bookmark(6)] },
    ]);
    expect(setMessages(again)).toEqual(['connection 2: change 6 after id 6 (a repeat or out of order)']);
  });
});
