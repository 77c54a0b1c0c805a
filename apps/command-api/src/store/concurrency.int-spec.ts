import { Client } from 'pg';
import { CommandApiUnderTest } from '../command-api.test-support';

/**
 * G2 under load: 200 concurrent PUTs over 20 routes, while readers watch the database. Every
 * revision is unique, revisions become visible in commit order (no reader ever sees revision R
 * without every revision below it), each effective write has exactly one outbox row, and each
 * route ends at its last write.
 */
describe('concurrent writes', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start({ poolSize: 20 });
  });
  afterAll(() => api.stop());

  it('200 PUTs over 20 routes: unique revisions, visible in commit order, one event each, last write wins', async () => {
    const routes = Array.from({ length: 20 }, (_, i) => `/v1/routes/tenant-${i % 4}/svc-${i % 5}/env-${i}`);
    const readers = await Promise.all(
      [0, 1, 2].map(async () => {
        const c = new Client({ connectionString: api.database.url });
        await c.connect();
        return c;
      }),
    );
    let writing = true;
    const observations = { reads: 0, violations: [] as string[] };
    const watch = async (reader: Client): Promise<void> => {
      while (writing) {
        // One statement, one snapshot: the clock, and every outbox revision committed so far.
        const { rows } = await reader.query<{ clock: string; revisions: string[] | null }>(
          `SELECT (SELECT revision FROM store_revision) AS clock,
                  (SELECT array_agg(revision ORDER BY revision) FROM outbox) AS revisions`,
        );
        const row = rows[0];
        const seen = (row?.revisions ?? []).map(Number);
        const clock = Number(row?.clock);
        observations.reads++;
        if (seen.length !== clock || seen.some((r, i) => r !== i + 1)) {
          observations.violations.push(`clock ${clock}, revisions ${seen.join(',')}`);
        }
      }
    };
    const watching = readers.map(watch);

    const writes = Array.from({ length: 200 }, (_, i) => ({ path: routes[i % 20] as string, url: `https://w${i}.example.internal/` }));
    const answers = await Promise.all(
      writes.map(async (w) => {
        const res = await api.request('PUT', w.path, { body: { url: w.url } });
        return { ...w, status: res.status, revision: res.json<{ revision: number }>().revision };
      }),
    );
    writing = false;
    await Promise.all(watching);
    await Promise.all(readers.map((r) => r.end()));

    expect(answers.filter((a) => a.status !== 200 && a.status !== 201)).toEqual([]);
    expect(answers.filter((a) => a.status === 201)).toHaveLength(20);
    const revisions = answers.map((a) => a.revision).sort((a, b) => a - b);
    expect(revisions).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));

    expect(observations.reads).toBeGreaterThan(0);
    expect(observations.violations).toEqual([]);

    const { rows: outbox } = await api.db.query<{ revision: number; route_key: string; url: string }>(
      "SELECT revision::int, route_key, payload->'data'->>'url' AS url FROM outbox ORDER BY revision",
    );
    expect(outbox).toHaveLength(200);
    for (const answer of answers) {
      const row = outbox[answer.revision - 1];
      expect(row?.url).toBe(answer.url);
      expect(`/v1/routes/${row?.route_key}`).toBe(answer.path);
    }

    for (const path of routes) {
      const last = answers.filter((a) => a.path === path).sort((a, b) => b.revision - a.revision)[0];
      const current = await api.request('GET', path);
      expect(current.json()).toMatchObject({ url: last?.url, revision: last?.revision });
    }
  });
});
