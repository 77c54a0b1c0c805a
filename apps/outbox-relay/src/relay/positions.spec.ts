import { deliveredAt } from '@tm/messaging';
import { offsetsJson } from '@tm/propagation';
import { PositionTracker } from './positions';

const at = (partition: number, offset: number) => ({ partition, offset: BigInt(offset) });

describe('deliveredAt: where each message of a send was written', () => {
  it("counts each partition's messages on from its base offset, in the order sent", () => {
    const metadata = [
      { topicName: 't', partition: 0, errorCode: 0, baseOffset: '10' },
      { topicName: 't', partition: 2, errorCode: 0, baseOffset: '7' },
    ];
    expect(deliveredAt([0, 2, 0, 0, 2], metadata)).toEqual([at(0, 10), at(2, 7), at(0, 11), at(0, 12), at(2, 8)]);
  });

  it('cannot tell without a base offset, or for a partition Kafka did not answer for', () => {
    expect(deliveredAt([0], [{ topicName: 't', partition: 0, errorCode: 0 }])).toBeUndefined();
    expect(deliveredAt([0, 1], [{ topicName: 't', partition: 0, errorCode: 0, baseOffset: '1' }])).toBeUndefined();
    expect(deliveredAt([undefined], [{ topicName: 't', partition: 0, errorCode: 0, baseOffset: '1' }])).toBeUndefined();
  });
});

describe('PositionTracker: offsets that cover every event up to a revision', () => {
  it('knows nothing before a baseline (the high watermarks: everything written is below them)', () => {
    const t = new PositionTracker();
    t.sent([1], [at(0, 5)]);
    expect(t.needsBaseline).toBe(true);
    expect(t.through(1)).toBeUndefined();
    t.baseline(new Map([[0, 6n], [1, 0n], [2, 3n]]));
    // An empty partition (high 0) has no event to cover.
    expect(t.through(1)).toEqual(new Map([[0, 5n], [2, 2n]]));
  });

  it('covers a revision with the events sent up to it, leaving out later ones of the same batch', () => {
    const t = new PositionTracker();
    t.baseline(new Map([[0, 3n]]));
    // Revision 5 has two events (a change set), the batch ends inside revision 6.
    t.sent([4, 5, 5, 6], [at(0, 3), at(1, 0), at(0, 4), at(1, 1)]);
    expect(t.lastPending).toBe(6);
    expect(t.through(5)).toEqual(new Map([[0, 4n], [1, 0n]]));
    expect(t.through(6)).toEqual(new Map([[0, 4n], [1, 1n]]));
    t.recordedAt(5, t.through(5) ?? new Map());
    expect(t.recorded).toBe(5);
    // The rest of revision 6 arrives in the next batch: 6 then covers both of its events.
    t.sent([6, 7], [at(2, 0), at(0, 5)]);
    expect(t.through(6)).toEqual(new Map([[0, 4n], [1, 1n], [2, 0n]]));
    expect(t.through(4)).toEqual(new Map([[0, 4n], [1, 0n]]));
  });

  it('after a send whose offsets are unknown, or a reset, asks for a baseline again and covers everything with it', () => {
    const t = new PositionTracker();
    t.baseline(new Map([[0, 1n]]));
    t.sent([2], [at(0, 1)]);
    t.sent([3], undefined);
    expect(t.needsBaseline).toBe(true);
    expect(t.lastPending).toBeUndefined();
    t.baseline(new Map([[0, 9n], [1, 4n]]));
    expect(t.through(1)).toEqual(new Map([[0, 8n], [1, 3n]]));
    t.reset();
    expect(t.needsBaseline).toBe(true);
    expect(t.recorded).toBe(0);
  });

  it('stores offsets as JSON strings by partition', () => {
    expect(offsetsJson(new Map([[3, 12345678901234567n], [0, 1n]]))).toBe('{"0":"1","3":"12345678901234567"}');
  });
});
