import { fitInRequest } from './relay.service';
import type { OutboxRow } from './outbox-store';

const row = (revision: number, bytes: number): OutboxRow => ({
  id: String(revision),
  eventId: `e${revision}`,
  routeKey: 'acme/web/prod',
  revision,
  payload: 'x'.repeat(bytes),
  createdAt: new Date(0),
});

describe('fitInRequest', () => {
  it('keeps the rows that fit, in order', () => {
    const rows = [row(1, 400), row(2, 400), row(3, 400)];
    expect(fitInRequest(rows, 1_100).map((r) => r.revision)).toEqual([1, 2]);
    expect(fitInRequest(rows, 10_000)).toHaveLength(3);
  });

  it('always takes at least one row', () => {
    expect(fitInRequest([row(1, 5_000)], 1_000)).toHaveLength(1);
    expect(fitInRequest([], 1_000)).toEqual([]);
  });

  it('500 events with 2 KiB URLs do not go in one request', () => {
    const rows = Array.from({ length: 500 }, (_, i) => row(i + 1, 2_400));
    const first = fitInRequest(rows, 512 * 1024);
    expect(first.length).toBeLessThan(500);
    expect(first.length).toBeGreaterThan(150);
  });
});
