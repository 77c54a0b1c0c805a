import { parseRevision, watchStaleness } from './watch';

describe('watch wire rules', () => {
  it('accepts decimal non-negative safe integers as revisions, nothing else', () => {
    expect(parseRevision('0')).toBe(0);
    expect(parseRevision('42')).toBe(42);
    expect(parseRevision('9007199254740991')).toBe(9007199254740991);
    for (const bad of ['', '-1', '01', '1.5', '1e3', ' 1', 'abc', '9007199254740993', '0x10', '12345678901234567']) {
      expect(parseRevision(bad)).toBeUndefined();
    }
  });

  it('ages a bookmark on the local clock from its arrival, never backwards', () => {
    expect(watchStaleness(120, 1_000, 1_500)).toBe(620);
    expect(watchStaleness(120, 1_000, 900)).toBe(120);
  });
});
