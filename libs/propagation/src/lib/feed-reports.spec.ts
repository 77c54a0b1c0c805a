import { feedReportsKey, parseFeedReports } from './feed-reports';

describe('parseFeedReports: the reply of FEED_REPORTS', () => {
  it("reads Redis's time and each replica's revision and time, in replica order, leaving out what does not parse", () => {
    expect(parseFeedReports(['1000', 'b', '7:990', 'a', '9:999', 'broken', 'x'])).toEqual({
      now: 1000,
      reports: [
        { replica: 'a', feedRevision: 9, seenAt: 999 },
        { replica: 'b', feedRevision: 7, seenAt: 990 },
      ],
    });
  });

  it('keeps every replica under one key of the prefix', () => {
    expect(feedReportsKey('tm:')).toBe('tm:resolver-feeds');
  });
});
