import { bareFrame, ChangeLog, revisionsOf, type LoggedChange } from './change-log';

function change(revision: number, at: number, service = 's'): LoggedChange {
  return { revision, tenant: 't', tenantId: null, service, frame: `event: put\nid: ${revision}\ndata: ${service}\n\n`, at };
}

/** A change set: `n` changes at one revision. */
function changeSet(revision: number, n: number, at = 0): LoggedChange[] {
  return Array.from({ length: n }, (_, i) => change(revision, at, `s${i}`));
}

describe('ChangeLog', () => {
  it('holds every change after its floor, in order, and refuses a gap', () => {
    const log = new ChangeLog(10, 2, 1_000, 100);
    expect(log.after(10)).toEqual([]);
    expect(log.after(9)).toBeUndefined();
    for (let r = 11; r <= 15; r++) log.append([change(r, 0)]);
    expect(log.last).toBe(15);
    expect(log.after(12)?.map((c) => c.revision)).toEqual([13, 14, 15]);
    expect(log.after(15)).toEqual([]);
    expect(() => log.append([change(17, 0)])).toThrow('does not follow 15');
  });

  it('keeps the newest minEntries and everything younger than minAgeMs, at most maxEntries', () => {
    const log = new ChangeLog(0, 3, 1_000, 6);
    for (let r = 1; r <= 5; r++) log.append([change(r, 0)]);
    for (let r = 6; r <= 8; r++) log.append([change(r, 2_000)]);
    log.trim(2_500); // 1..5 are older than 1 s; 6..8 are the newest three and young
    expect(log.floor).toBe(5);
    expect(log.after(4)).toBeUndefined();
    expect(log.after(5)?.map((c) => c.revision)).toEqual([6, 7, 8]);
    for (let r = 9; r <= 12; r++) log.append([change(r, 2_400)]);
    log.trim(2_500); // all young, but at most 6
    expect(log.size).toBe(6);
    expect(log.floor).toBe(6);
    log.trim(10_000); // all old: the newest 3 stay
    expect(log.after(log.floor)?.map((c) => c.revision)).toEqual([10, 11, 12]);
  });

  it('compacts its storage as it drops entries and starts afresh on reset', () => {
    const log = new ChangeLog(0, 10, 0, 10);
    for (let r = 1; r <= 5_000; r++) {
      log.append([change(r, r)]);
      log.trim(r);
    }
    expect(log.size).toBe(10);
    expect(log.after(4_990)?.map((c) => c.revision)).toEqual(Array.from({ length: 10 }, (_, i) => 4_991 + i));
    log.reset(7_000);
    expect(log.after(5_000)).toBeUndefined();
    expect(log.after(7_000)).toEqual([]);
    log.append([change(7_001, 0)]);
    expect(log.last).toBe(7_001);
  });
});

describe('ChangeLog: revisions of many changes (change sets)', () => {
  it('appends a revision whole, and serves resumes from revision boundaries', () => {
    const log = new ChangeLog(0, 100, 1_000, 1_000);
    log.append(changeSet(1, 1));
    log.append(changeSet(2, 4));
    log.append(changeSet(3, 2));
    expect(log.size).toBe(7);
    expect(log.last).toBe(3);
    expect(log.after(0)?.map((c) => c.revision)).toEqual([1, 2, 2, 2, 2, 3, 3]);
    expect(log.after(1)?.map((c) => c.revision)).toEqual([2, 2, 2, 2, 3, 3]);
    expect(log.after(2)?.map((c) => c.service)).toEqual(['s0', 's1']);
    expect(log.after(3)).toEqual([]);
    expect(() => log.append([change(4, 0), change(5, 0)])).toThrow('does not follow 3');
    expect(() => log.append(changeSet(3, 1))).toThrow('does not follow 3');
    expect(() => log.append([])).toThrow('revision 4 has no change');
    expect(log.last).toBe(3);
  });

  it('drops whole revisions only: a cut that falls inside one keeps it', () => {
    const log = new ChangeLog(0, 3, 0, 1_000);
    log.append(changeSet(1, 2));
    log.append(changeSet(2, 4));
    log.append(changeSet(3, 1));
    // Keeping the newest 3 would cut inside revision 2: it stays whole.
    log.trim(10);
    expect(log.floor).toBe(1);
    expect(log.after(1)?.map((c) => c.revision)).toEqual([2, 2, 2, 2, 3]);
    log.append(changeSet(4, 3));
    log.trim(10);
    expect(log.floor).toBe(3);
    expect(log.after(2)).toBeUndefined();
    expect(log.after(3)?.map((c) => c.revision)).toEqual([4, 4, 4]);
  });

  it('cuts a run of changes into revisions, and gives a frame without its id line', () => {
    expect(revisionsOf([1, 2, 2, 3, 3, 3].map((r) => ({ revision: r }))).map((run) => run.length)).toEqual([1, 2, 3]);
    expect(revisionsOf([])).toEqual([]);
    const c = change(12, 0, 'web');
    expect(bareFrame(c)).toBe('event: put\ndata: web\n\n');
    expect(c.frame).toBe('event: put\nid: 12\ndata: web\n\n');
  });
});
