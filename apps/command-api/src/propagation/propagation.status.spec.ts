import { parseOffsets } from '@tm/propagation';
import { decideStatus, isPublished, offsetsApplied, type PropagationFacts, type StoreFacts } from './propagation.status';

const offsets = (entries: [number, number][]) => new Map(entries.map(([p, o]) => [p, BigInt(o)]));
const checkedAt = new Date('2025-01-01T00:00:10.000Z');
const now = checkedAt.getTime();

function facts(over: Partial<Omit<PropagationFacts, 'store'>> & { store?: Partial<StoreFacts> } = {}): PropagationFacts {
  return {
    revision: 5,
    committed: offsets([[0, 11], [1, 4]]),
    feeds: { now, reports: [{ replica: 'r1', feedRevision: 5, seenAt: now - 100 }] },
    replicaTimeoutMs: 1_000,
    checkedAt,
    ...over,
    store: { current: 7, firstUnpublished: null, committedAt: new Date('2025-01-01T00:00:00.000Z'), position: offsets([[0, 10], [1, 3]]), ...over.store },
  };
}

describe('offsetsApplied: the worker committed past every offset of the position', () => {
  it('needs the committed offset (the next one to read) above the position on every partition of it', () => {
    expect(offsetsApplied(offsets([[0, 10]]), offsets([[0, 11]]))).toBe(true);
    expect(offsetsApplied(offsets([[0, 10]]), offsets([[0, 10]]))).toBe(false);
    expect(offsetsApplied(offsets([[0, 10], [3, 0]]), offsets([[0, 50]]))).toBe(false);
    expect(offsetsApplied(offsets([[0, 10], [3, 0]]), offsets([[0, 50], [3, -1]]))).toBe(false);
  });

  it('asks nothing of a partition the position has no event on', () => {
    expect(offsetsApplied(offsets([[1, 2]]), offsets([[0, -1], [1, 3]]))).toBe(true);
    expect(offsetsApplied(new Map(), new Map())).toBe(true);
  });
});

describe('isPublished: no outbox row at or below R unpublished', () => {
  it('holds below the first unpublished revision, within the store', () => {
    expect(isPublished(5, { current: 7, firstUnpublished: null })).toBe(true);
    expect(isPublished(5, { current: 7, firstUnpublished: 6 })).toBe(true);
    expect(isPublished(5, { current: 7, firstUnpublished: 5 })).toBe(false);
    expect(isPublished(8, { current: 7, firstUnpublished: null })).toBe(false);
  });
});

describe('decideStatus', () => {
  it('is in sync when published, applied, and every live replica holds R', () => {
    const status = decideStatus(facts());
    expect(status).toEqual({
      revision: 5,
      committedAt: '2025-01-01T00:00:00.000Z',
      status: 'in-sync',
      published: true,
      cacheApplied: true,
      resolvers: [{ replica: 'r1', feedRevision: 5, seenAt: '2025-01-01T00:00:09.900Z', live: true }],
      checkedAt: '2025-01-01T00:00:10.000Z',
    });
  });

  it('is pending while a row up to R is unpublished, and then not applied either', () => {
    const status = decideStatus(facts({ store: { firstUnpublished: 4 } }));
    expect(status).toMatchObject({ status: 'pending', published: false, cacheApplied: false });
  });

  it('is pending without a position for R (the relay has not recorded one), or with the worker behind it', () => {
    expect(decideStatus(facts({ store: { position: undefined } }))).toMatchObject({ status: 'pending', published: true, cacheApplied: false });
    expect(decideStatus(facts({ committed: offsets([[0, 10], [1, 4]]) }))).toMatchObject({ status: 'pending', cacheApplied: false });
  });

  it('counts Kafka not answering as not applied', () => {
    expect(decideStatus(facts({ committed: undefined }))).toMatchObject({ status: 'pending', published: true, cacheApplied: false });
  });

  it('is held back by a live replica behind R, not by one past the timeout', () => {
    const behind = { now, reports: [{ replica: 'r1', feedRevision: 5, seenAt: now }, { replica: 'r2', feedRevision: 4, seenAt: now - 1_000 }] };
    expect(decideStatus(facts({ feeds: behind })).status).toBe('pending');
    const gone = { now, reports: [{ replica: 'r1', feedRevision: 5, seenAt: now }, { replica: 'r2', feedRevision: 4, seenAt: now - 1_001 }] };
    const status = decideStatus(facts({ feeds: gone }));
    expect(status.status).toBe('in-sync');
    expect(status.resolvers[1]).toMatchObject({ replica: 'r2', feedRevision: 4, live: false });
  });

  it('lists no replica when Redis did not answer, and decides on the rest', () => {
    expect(decideStatus(facts({ feeds: undefined }))).toMatchObject({ status: 'in-sync', resolvers: [] });
  });

  it('has a null commit time once the outbox rows of R are gone', () => {
    expect(decideStatus(facts({ store: { committedAt: null } })).committedAt).toBeNull();
  });
});

describe('parseOffsets: relay_positions.offsets', () => {
  it('reads partitions and 64-bit offsets, and nothing malformed', () => {
    expect(parseOffsets({ '0': '12', '5': '9007199254740993' })).toEqual(offsets([[0, 12]]).set(5, 9007199254740993n));
    expect(parseOffsets({ x: '1' })).toBeUndefined();
    expect(parseOffsets({ '1': 2 })).toBeUndefined();
    expect(parseOffsets(null)).toBeUndefined();
    expect(parseOffsets([])).toBeUndefined();
  });
});
