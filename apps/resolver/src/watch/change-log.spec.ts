import { ChangeLog, type LoggedChange } from './change-log';

function change(revision: number, at: number): LoggedChange {
  return { revision, tenant: 't', tenantId: null, service: 's', frame: `id: ${revision}\n\n`, at };
}

describe('ChangeLog', () => {
  it('holds every change after its floor, in order, and refuses a gap', () => {
    const log = new ChangeLog(10, 2, 1_000, 100);
    expect(log.after(10)).toEqual([]);
    expect(log.after(9)).toBeUndefined();
    for (let r = 11; r <= 15; r++) log.append(change(r, 0));
    expect(log.last).toBe(15);
    expect(log.after(12)?.map((c) => c.revision)).toEqual([13, 14, 15]);
    expect(log.after(15)).toEqual([]);
    expect(() => log.append(change(17, 0))).toThrow('does not follow 15');
  });

  it('keeps the newest minEntries and everything younger than minAgeMs, at most maxEntries', () => {
    const log = new ChangeLog(0, 3, 1_000, 6);
    for (let r = 1; r <= 5; r++) log.append(change(r, 0));
    for (let r = 6; r <= 8; r++) log.append(change(r, 2_000));
    log.trim(2_500); // 1..5 are older than 1 s; 6..8 are the newest three and young
    expect(log.floor).toBe(5);
    expect(log.after(4)).toBeUndefined();
    expect(log.after(5)?.map((c) => c.revision)).toEqual([6, 7, 8]);
    for (let r = 9; r <= 12; r++) log.append(change(r, 2_400));
    log.trim(2_500); // all young, but at most 6
    expect(log.size).toBe(6);
    expect(log.floor).toBe(6);
    log.trim(10_000); // all old: the newest 3 stay
    expect(log.after(log.floor)?.map((c) => c.revision)).toEqual([10, 11, 12]);
  });

  it('compacts its storage as it drops entries and starts afresh on reset', () => {
    const log = new ChangeLog(0, 10, 0, 10);
    for (let r = 1; r <= 5_000; r++) {
      log.append(change(r, r));
      log.trim(r);
    }
    expect(log.size).toBe(10);
    expect(log.after(4_990)?.map((c) => c.revision)).toEqual(Array.from({ length: 10 }, (_, i) => 4_991 + i));
    log.reset(7_000);
    expect(log.after(5_000)).toBeUndefined();
    expect(log.after(7_000)).toEqual([]);
    log.append(change(7_001, 0));
    expect(log.last).toBe(7_001);
  });
});
