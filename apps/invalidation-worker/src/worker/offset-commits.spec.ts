import type { PartitionOffset } from '@tm/messaging';
import { OffsetCommits } from './offset-commits';

const at = (partition: number, offset: number): PartitionOffset => ({ topic: 't', partition, offset: String(offset) });

describe('OffsetCommits', () => {
  let commits: PartitionOffset[][];
  let errors: unknown[];
  let fail: boolean;
  let committer: OffsetCommits;
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
    commits = [];
    errors = [];
    fail = false;
    committer = new OffsetCommits(
      200,
      async (offsets) => {
        if (fail) throw new Error('coordinator gone');
        commits.push(offsets);
      },
      (e) => errors.push(e),
    );
  });
  afterEach(() => {
    committer.stop();
    jest.useRealTimers();
  });

  it('the first offset after a quiet time is committed at once; later ones wait for the interval, grouped, latest per partition', async () => {
    committer.add(at(0, 5));
    await jest.advanceTimersByTimeAsync(0);
    expect(commits).toEqual([[at(0, 5)]]);
    committer.add(at(0, 6));
    committer.add(at(1, 3));
    await jest.advanceTimersByTimeAsync(50);
    committer.add(at(0, 9));
    await jest.advanceTimersByTimeAsync(100);
    expect(commits).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(50);
    expect(commits).toEqual([[at(0, 5)], [at(0, 9), at(1, 3)]]);
  });

  it('an idle consumer still commits its last offsets within the interval (no further batch needed)', async () => {
    committer.add(at(0, 1));
    await jest.advanceTimersByTimeAsync(10);
    committer.add(at(0, 2));
    await jest.advanceTimersByTimeAsync(200);
    expect(commits.at(-1)).toEqual([at(0, 2)]);
    // Nothing pending: no more commits however long it stays idle.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(commits).toHaveLength(2);
  });

  it('flush commits what is pending at once, through the commit it is given', async () => {
    committer.add(at(0, 1));
    await jest.advanceTimersByTimeAsync(0);
    committer.add(at(2, 7));
    const inBatch: PartitionOffset[][] = [];
    await committer.flush(async (offsets) => void inBatch.push(offsets));
    expect(inBatch).toEqual([[at(2, 7)]]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(commits).toEqual([[at(0, 1)]]);
  });

  it('a failed commit keeps the offsets pending and is tried again', async () => {
    fail = true;
    committer.add(at(0, 4));
    await jest.advanceTimersByTimeAsync(0);
    expect(errors).toHaveLength(1);
    fail = false;
    await jest.advanceTimersByTimeAsync(200);
    expect(commits).toEqual([[at(0, 4)]]);
  });

  it('commits run one at a time, in order', async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const slow = new OffsetCommits(
      200,
      async (offsets) => {
        order.push(`start ${offsets.map((o) => o.offset).join()}`);
        await new Promise<void>((r) => (release = r));
        order.push('end');
      },
      () => undefined,
    );
    slow.stop(); // flushes only, no timer
    slow.add(at(0, 1));
    const first = slow.flush();
    await jest.advanceTimersByTimeAsync(0);
    slow.add(at(0, 2));
    const second = slow.flush(async (offsets) => void order.push(`second ${offsets.map((o) => o.offset).join()}`));
    await jest.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['start 1']);
    release();
    await Promise.all([first, second]);
    expect(order).toEqual(['start 1', 'end', 'second 2']);
  });

  it('clear forgets what is pending (the group redelivers it after a rebalance)', async () => {
    committer.add(at(0, 1));
    committer.clear();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(commits).toEqual([]);
  });
});
