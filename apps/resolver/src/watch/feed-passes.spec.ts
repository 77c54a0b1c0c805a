import { FeedPasses } from './feed-passes';

describe('FeedPasses', () => {
  it('gives when the feed first proved a revision above the one asked, undefined before it has', () => {
    const passes = new FeedPasses(1_000);
    passes.record(10, 100);
    passes.record(10, 150);
    passes.record(12, 200);
    expect(passes.passedAbove(9)).toBe(100);
    expect(passes.passedAbove(10)).toBe(200);
    expect(passes.passedAbove(11)).toBe(200);
    expect(passes.passedAbove(12)).toBeUndefined();
    passes.record(13, 250);
    expect(passes.passedAbove(12)).toBe(250);
  });

  it('counts a revision passed before what it keeps as passed long ago', () => {
    const passes = new FeedPasses(100);
    passes.record(1, 0);
    passes.record(2, 50);
    passes.record(3, 300);
    expect(passes.passedAbove(0)).toBe(Number.NEGATIVE_INFINITY);
    expect(passes.passedAbove(1)).toBe(Number.NEGATIVE_INFINITY);
    // The first pass above 2 is kept.
    expect(passes.passedAbove(2)).toBe(300);
  });

  it('stays correct over many passes (entries dropped in batches)', () => {
    const passes = new FeedPasses(50);
    for (let r = 1; r <= 10_000; r++) passes.record(r, r * 10);
    expect(passes.passedAbove(9_999)).toBe(100_000);
    expect(passes.passedAbove(9_996)).toBe(99_970);
    expect(passes.passedAbove(5_000)).toBe(Number.NEGATIVE_INFINITY);
  });
});
