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
