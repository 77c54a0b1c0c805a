import { DatabaseClock } from './database-clock';

describe('DatabaseClock', () => {
  let local = 0;
  const clock = () => new DatabaseClock(() => local, 15_000);
  beforeEach(() => {
    local = 1_000;
  });

  it("before any sample it is this process's wall clock", () => {
    const c = clock();
    jest.spyOn(Date, 'now').mockReturnValue(42_000);
    expect(c.synchronized).toBe(false);
    expect(c.now()).toBe(42_000);
    expect(c.offsetFromWallClock()).toBe(0);
    jest.restoreAllMocks();
  });

  it("follows the database's clock from the local one, never below it: the offset is T minus when the statement was sent", () => {
    const c = clock();
    // The database is 60 s ahead; the statement took 40 ms, and the database stamped it 10 ms in.
    const sentAt = local;
    local += 40;
    c.sample(sentAt, sentAt + 60_000 + 10);
    expect(c.synchronized).toBe(true);
    // True database time now: local + 60 000; the clock's is 10 ms above (the part of the trip before T).
    expect(c.now()).toBe(local + 60_010);
    expect(c.now()).toBeGreaterThanOrEqual(local + 60_000);
    local += 5_000;
    expect(c.now()).toBe(local + 60_010);
  });

  it('uses the tightest sample of the window; a slow one (a queued statement) does not inflate ages', () => {
    const c = clock();
    c.sample(local, local + 500 + 2_000); // waited 2 s for a connection: offset bound 2 500
    local += 2_000;
    c.sample(local, local + 500 + 3); // a quick one: 503
    expect(c.now() - local).toBe(503);
    local += 1_500;
    c.sample(local, local + 500 + 900);
    expect(c.now() - local).toBe(503);
  });

  it('the database clock stepping back is followed at once; stepping forward, only once older samples leave the window', () => {
    const c = clock();
    c.sample(local, local + 10_000);
    local += 2_000;
    c.sample(local, local + 4_000); // stepped back 6 s
    expect(c.now() - local).toBe(4_000);
    local += 2_000;
    c.sample(local, local + 9_000); // forward 5 s: entries stamped after it look newer than now (not fresh) for a while
    expect(c.now() - local).toBe(4_000);
    local += 16_000;
    c.sample(local, local + 9_000);
    expect(c.now() - local).toBe(9_000);
  });

  it('without new samples (the database down) the last offset stays in use', () => {
    const c = clock();
    c.sample(local, local + 7_000);
    local += 3_600_000;
    expect(c.now() - local).toBe(7_000);
  });

  it('ignores a sample that is not a number', () => {
    const c = clock();
    c.sample(local, Number.NaN);
    expect(c.synchronized).toBe(false);
  });

  it('keeps one sample per second however many reads there are', () => {
    const c = clock();
    for (let i = 0; i < 10_000; i++) {
      c.sample(local, local + 100 + (i % 7));
      local += 3;
    }
    expect((c as unknown as { samples: unknown[] }).samples.length).toBeLessThanOrEqual(17);
    expect(c.now() - local).toBe(100);
  });
});
