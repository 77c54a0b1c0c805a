import { bookmarkFrame, changeFrame, ChunkedBody } from '@tm/testing';
import { TenantWatch } from './watch';

/**
 * The SDK applies a change set's revision whole (docs/guarantees.md, "Change sets": "The SDK applies a
 * revision whole"): lookups made while its frames are still arriving see none of it, then all of it.
 */
describe('TenantWatch: a revision of many routes', () => {
  it('a lookup racing the delivery of a multi-route revision never sees a mix', async () => {
    const body = new ChunkedBody();
    let progressed = 0;
    const watch = new TenantWatch(
      'acme',
      { resolverUrl: 'http://resolver.test', apiKey: 'k', backoffBaseMs: 10, backoffMaxMs: 20, fetch: body.fetch },
      { state: () => undefined, error: () => undefined, progress: () => progressed++ },
    );
    const routes = ['a', 'b', 'c'];
    /** What a lookup of every route gives now: url@revision, or absent. */
    const lookup = () => routes.map((s) => {
      const e = watch.entry(s, 'prod');
      return e ? `${e.url}@${e.revision}` : 'absent';
    });
    try {
      await body.push(routes.map((s) => changeFrame(`acme/${s}/prod`, `https://${s}1`, 1)).join('') + bookmarkFrame(1, true));
      expect(lookup()).toEqual(['https://a1@1', 'https://b1@1', 'https://c1@1']);
      expect(watch.asOf).toBe(1);
      // Revision 2 changes all three: its frames arrive one chunk at a time; lookups in between see revision 1 whole.
      await body.push(changeFrame('acme/a/prod', 'https://a2', 2));
      expect(lookup()).toEqual(['https://a1@1', 'https://b1@1', 'https://c1@1']);
      await body.push(changeFrame('acme/b/prod', null, 2));
      expect(lookup()).toEqual(['https://a1@1', 'https://b1@1', 'https://c1@1']);
      expect(watch.asOf).toBe(1);
      const before = progressed;
      await body.push(changeFrame('acme/c/prod', 'https://c2', 2, 2));
      expect(lookup()).toEqual(['https://a2@2', 'absent', 'https://c2@2']);
      expect(watch.asOf).toBe(2);
      expect(progressed).toBeGreaterThan(before);
    } finally {
      watch.close();
    }
  });
});
