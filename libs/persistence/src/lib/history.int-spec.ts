import { Client } from 'pg';
import { commitChangeSetFixture, createTestDatabase, type TestDatabase } from '@tm/testing';
import type { Query } from './as-of';
import { readChangesAfter, readNewestChanges, readRoutesSnapshot, type ChangesAfter } from './history';

/** Change sets: a revision holds one outbox row per route it changed. */
describe('the outbox as history, with revisions of many rows (real PostgreSQL)', () => {
  let db: TestDatabase;
  let client: Client;
  let query: Query;
  /** Routes per revision 1..4, each set written out of route order. */
  const sizes = [1, 5, 1, 3];
  const keys = (r: number, n: number) => Array.from({ length: n }, (_, i) => `acme/svc-${r}/env-${n - i}`);
  beforeAll(async () => {
    db = await createTestDatabase();
    client = new Client({ connectionString: db.url });
    await client.connect();
    query = async <T>(sql: string, params: unknown[]) => (await client.query(sql, params)).rows as T[];
    for (const [i, n] of sizes.entries()) await commitChangeSetFixture(client, keys(i + 1, n).map((route) => ({ route, url: `https://${i + 1}.example` })));
  });
  afterAll(async () => {
    await client.end();
    await db.drop();
  });

  /** [revision, routes in order] of a page. */
  const revisions = (page: ChangesAfter) => {
    const out: [number, string[]][] = [];
    for (const c of page.changes) {
      const last = out[out.length - 1];
      if (last?.[0] === c.revision) last[1].push(c.routeKey);
      else out.push([c.revision, [c.routeKey]]);
    }
    return out;
  };
  const sorted = (r: number, n: number) => [...keys(r, n)].sort();

  it('a page ends at a revision boundary: the revision it reaches comes whole, however large, in route key order', async () => {
    // 3 rows reach into revision 2 (5 rows): all of it.
    const page = await readChangesAfter(query, 0, 3);
    expect(page.current).toBe(4);
    expect(revisions(page)).toEqual([
      [1, sorted(1, 1)],
      [2, sorted(2, 5)],
    ]);
    expect(revisions(await readChangesAfter(query, 2, 1))).toEqual([[3, sorted(3, 1)]]);
    expect(revisions(await readChangesAfter(query, 3, 1))).toEqual([[4, sorted(4, 3)]]);
    expect(revisions(await readChangesAfter(query, 0, 6))).toEqual([
      [1, sorted(1, 1)],
      [2, sorted(2, 5)],
    ]);
    expect(revisions(await readChangesAfter(query, 0, 7))).toHaveLength(3);
    expect((await readChangesAfter(query, 4, 10)).changes).toEqual([]);
  });

  it('the newest changes: at least as many rows as asked, whole revisions, with the clock', async () => {
    // The 4th newest row is revision 3's; the 5th is in revision 2, which comes whole.
    expect(revisions(await readNewestChanges(query, 4)).map(([r]) => r)).toEqual([3, 4]);
    const five = await readNewestChanges(query, 5);
    expect(revisions(five).map(([r, k]) => [r, k.length])).toEqual([
      [2, 5],
      [3, 1],
      [4, 3],
    ]);
    expect(five.current).toBe(4);
    expect((await readNewestChanges(query, 0)).changes).toEqual([]);
    expect((await readNewestChanges(query, 1_000)).changes).toHaveLength(10);
  });

  it("a snapshot gives each route once, with its own row's event id, when its revision holds many", async () => {
    const { routes, asOf } = await readRoutesSnapshot(query, 'acme', null);
    expect(asOf).toBe(4);
    expect(routes.map((r) => `${r.tenant}/${r.service}/${r.environment}`)).toEqual(sizes.flatMap((n, i) => sorted(i + 1, n)));
    const { rows } = await client.query<{ route_key: string; event_id: string }>('SELECT route_key, event_id::text FROM outbox');
    const ids = new Map(rows.map((r) => [r.route_key, r.event_id]));
    for (const r of routes) expect(r.eventId).toBe(ids.get(`${r.tenant}/${r.service}/${r.environment}`));
  });
});
