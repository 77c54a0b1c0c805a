import type { Change } from '@tm/persistence';
import { denseTail } from './change-feed';

const change = (revision: number): Change => ({ revision, routeKey: `t/s${revision}/e`, tenantId: null, deleted: false, event: '{}', createdAt: 0 });

describe('the feed’s first read: denseTail', () => {
  it('keeps the changes that end at the store’s revision with none missing', () => {
    expect(denseTail([1, 2, 4, 5, 6].map(change), 6).map((c) => c.revision)).toEqual([4, 5, 6]);
    expect(denseTail([3, 4, 5].map(change), 5).map((c) => c.revision)).toEqual([3, 4, 5]);
  });

  it('keeps none when the store’s revision is not among them', () => {
    expect(denseTail([1, 2, 3].map(change), 4)).toEqual([]);
    expect(denseTail([], 7)).toEqual([]);
  });
});

describe('the feed’s first read: denseTail, with revisions of many changes', () => {
  const many = (revisions: number[]): Change[] => revisions.map((r, i) => ({ ...change(r), routeKey: `t/s${i}/e` }));
  it('keeps every change of each revision of the run that ends at the store’s revision', () => {
    expect(denseTail(many([1, 3, 3, 4, 4, 4, 5]), 5).map((c) => c.revision)).toEqual([3, 3, 4, 4, 4, 5]);
    expect(denseTail(many([2, 2, 2]), 2)).toHaveLength(3);
    expect(denseTail(many([4, 4, 6, 6]), 6)).toHaveLength(2);
    expect(denseTail(many([4, 4, 5, 5]), 6)).toEqual([]);
  });
});
