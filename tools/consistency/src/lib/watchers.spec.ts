import { refuse, SseServer, stream, until } from '@tm/watch/testing';
import { Watcher } from './watchers';

describe('Watcher', () => {
  it('records a snapshot, changes and bookmarks per connection, resumes on the next replica, and counts refusals and 410s', async () => {
    const a = await SseServer.start((n, res) => {
      if (n === 1) {
        stream(res).change('acme/a/prod', 'https://a', 3).bookmark(5, true).change('acme/a/prod', 'https://a6', 6, 6).bookmark(6, false, 12);
        setTimeout(() => res.destroy(), 50);
      } else stream(res).bookmark(9, true);
    });
    const b = await SseServer.start((n, res) => (n === 1 ? refuse(res, 410, 'compacted') : stream(res).bookmark(7)));
    const watcher = new Watcher({ name: 'w', path: '/v1/watch/acme', token: 't', tenant: 'acme' }, () => [a.url, b.url]);
    try {
      watcher.start();
      await until(() => watcher.lastBookmark === 9, 'the second snapshot');
      await watcher.stop();
      const { log } = watcher;
      expect(log.compacted).toBe(1);
      expect(log.refusals?.map((r) => r.status)).toEqual(['410']);
      expect(log.segments.map((s) => [s.resolver, s.since, s.snapshot?.asOf, s.end])).toEqual([
        [0, undefined, 5, expect.stringMatching(/^failed: /)],
        [0, undefined, 9, 'stopped'],
      ]);
      expect(log.segments[0]?.snapshot?.routes).toEqual([{ key: 'acme/a/prod', url: 'https://a', revision: 3 }]);
      expect(log.segments[0]?.frames).toEqual([
        expect.objectContaining({ kind: 'change', revision: 6, key: 'acme/a/prod', url: 'https://a6', deleted: false, eventId: 'e6-acme/a/prod' }),
        expect.objectContaining({ kind: 'bookmark', revision: 6, ageMs: 12 }),
      ]);
      expect(b.taken[0]?.headers['last-event-id']).toBe('6');
      expect(a.taken.map((t) => t.headers['last-event-id'])).toEqual([undefined, undefined]);
    } finally {
      await watcher.stop();
      await a.close();
      await b.close();
    }
  });
});
