import { Client } from 'pg';
import { type Answer, CommandApiUnderTest } from '../command-api.test-support';

/**
 * Tenant deletion against concurrent writes. The deletion is one statement; the test holds it
 * where it must wait (on a row of its own tenant that the test's session locked) or makes it wait
 * for a write that the session holds, so the interleaving is forced, not hoped for.
 */
describe('tenant deletion races', () => {
  let api: CommandApiUnderTest;
  let session: Client;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
    session = new Client({ connectionString: api.database.url });
    await session.connect();
  });
  afterAll(async () => {
    await session.end();
    await api.stop();
  });

  /**
   * tm_write_retries_total: how many times a write ran again after a race, for one SQLSTATE or all.
   * The command API counts what it sees as it happens (PostgreSQL's own deadlock count in
   * pg_stat_database is flushed by the backend that saw it, up to seconds later).
   */
  async function retries(sqlstate?: string): Promise<number> {
    const text = String((await api.request('GET', '/metrics', { token: null })).body);
    return [...text.matchAll(/^tm_write_retries_total\{([^}]*)\} (\d+)$/gm)]
      .filter((m) => sqlstate === undefined || m[1]?.includes(`sqlstate="${sqlstate}"`))
      .reduce((sum, m) => sum + Number(m[2]), 0);
  }

  /** Deadlocks the command API's writes ran into (and ran again after). */
  const deadlocks = (): Promise<number> => retries('40P01');

  async function clock(): Promise<number> {
    return Number((await api.db.query<{ revision: string }>('SELECT revision FROM store_revision')).rows[0]?.revision);
  }

  /** Resolves once `n` other sessions of this database wait for a lock (the requests under test are blocked). */
  async function lockWaiters(n: number): Promise<void> {
    for (;;) {
      const { rows } = await api.db.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
      );
      if (rows.length >= n) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Starts DELETE /v1/tenants/{slug} and holds it on the tenant's keys, which a revocation in the
   * test's session has locked and not committed: the deletion has locked the tenant, its services
   * and its endpoints and waits. `finish` commits the revocation and returns the deletion's answer.
   */
  async function holdDeletion(slug: string): Promise<{ finish(): Promise<Answer> }> {
    await api.createKey(['routes:read'], slug);
    await session.query('BEGIN');
    await session.query('UPDATE api_keys SET revoked_at = now() WHERE tenant_id = (SELECT id FROM tenants WHERE slug = $1)', [slug]);
    const deletion = api.request('DELETE', `/v1/tenants/${slug}`);
    await lockWaiters(1);
    return {
      async finish() {
        await session.query('COMMIT');
        return deletion;
      },
    };
  }

  it('a PUT adding an environment while the tenant is being deleted waits, then recreates the tenant, without a deadlock', async () => {
    await api.request('PUT', '/v1/routes/doomed/web/prod', { body: { url: 'https://web.doomed.internal' } });
    const before = await deadlocks();
    const deletion = await holdDeletion('doomed');
    const put = api.request('PUT', '/v1/routes/doomed/web/staging', { body: { url: 'https://staging.doomed.internal' } });
    // Once the PUT waits on the tenant row the deletion holds, let the deletion go on and commit.
    await lockWaiters(2);
    expect((await deletion.finish()).status).toBe(204);
    const res = await put;
    expect(res.status).toBe(201);
    expect((await api.request('GET', '/v1/routes/doomed/web/staging')).status).toBe(200);
    expect((await api.request('GET', '/v1/routes/doomed/web/prod')).status).toBe(404);
    expect(await deadlocks()).toBe(before);
  });

  it('creating a key for a tenant that is deleted meanwhile is a 404, not a 500', async () => {
    await api.request('POST', '/v1/tenants', { body: { slug: 'vanishing' } });
    const deletion = await holdDeletion('vanishing');
    const create = api.request('POST', '/v1/api-keys', { body: { name: 'k', tenant: 'vanishing', scopes: ['routes:read'] } });
    await lockWaiters(2);
    expect((await deletion.finish()).status).toBe(204);
    const res = await create;
    expect(res.status).toBe(404);
    expect(res.json()).toMatchObject({ status: 404 });
  });

  it("another tenant's PUT is answered while a tenant deletion waits: the deletion does not hold the revision clock while it waits", async () => {
    for (const env of ['prod', 'staging']) {
      await api.request('PUT', `/v1/routes/slowgone/web/${env}`, { body: { url: `https://${env}.slowgone.internal` } });
    }
    const deletion = await holdDeletion('slowgone');
    // Holding the clock while waiting (the row lock of a key here; a round trip to the app before
    // the deletion commits is the same window) would make this PUT wait for the clock as well.
    const put = api.request('PUT', '/v1/routes/bystander/web/prod', { body: { url: 'https://web.bystander.internal' } });
    const first = await Promise.race([put.then(() => 'answered'), lockWaiters(2).then(() => 'blocked behind the deletion')]);
    let deleted: Answer | undefined;
    try {
      expect(first).toBe('answered');
      expect((await put).status).toBe(201);
    } finally {
      deleted = await deletion.finish();
    }
    expect(deleted.status).toBe(204);
    // The PUT committed first, so its revision is below the deletion's.
    const { rows } = await api.db.query<{ route_key: string; revision: string }>(
      "SELECT route_key, revision FROM outbox WHERE route_key LIKE 'slowgone/%' OR route_key LIKE 'bystander/%' ORDER BY revision DESC, route_key DESC LIMIT 3",
    );
    expect(rows.map((r) => r.route_key)).toEqual(['slowgone/web/staging', 'slowgone/web/prod', 'bystander/web/prod']);
    expect(Number(rows[0]?.revision)).toBe(await clock());
  });

  it('a route created after the deletion began but before it locked the tenant is deleted with its event, not silently', async () => {
    await api.request('PUT', '/v1/routes/latecomer/web/prod', { body: { url: 'https://web.latecomer.internal' } });
    // The session holds the clock: the PUT below locks the tenant and its new service, then waits.
    await session.query('BEGIN');
    await session.query('SELECT revision FROM store_revision FOR UPDATE');
    const put = api.request('PUT', '/v1/routes/latecomer/api/prod', { body: { url: 'https://api.latecomer.internal' } });
    await lockWaiters(1);
    // The deletion's statement starts now (its snapshot has no latecomer/api/prod) and waits for
    // the tenant row; the PUT commits once the session lets the clock go.
    const deletion = api.request('DELETE', '/v1/tenants/latecomer');
    await lockWaiters(2);
    await session.query('COMMIT');
    expect((await put).status).toBe(201);
    expect((await deletion).status).toBe(204);
    const { rows } = await api.db.query<{ route_key: string; event_type: string }>(
      "SELECT route_key, event_type FROM outbox WHERE route_key LIKE 'latecomer/%' ORDER BY revision",
    );
    expect(rows).toEqual([
      { route_key: 'latecomer/web/prod', event_type: 'traffic-manager.route.upserted.v1' },
      { route_key: 'latecomer/api/prod', event_type: 'traffic-manager.route.upserted.v1' },
      { route_key: 'latecomer/api/prod', event_type: 'traffic-manager.route.deleted.v1' },
      { route_key: 'latecomer/web/prod', event_type: 'traffic-manager.route.deleted.v1' },
    ]);
    expect((await api.db.query("SELECT 1 FROM tenants WHERE slug = 'latecomer'")).rowCount).toBe(0);
  });

  it('a route created in an existing service while the deletion waits for the tenant is deleted on the first try', async () => {
    for (const env of ['prod', 'staging']) await api.request('PUT', `/v1/routes/steady/web/${env}`, { body: { url: `https://${env}.steady.internal` } });
    const before = await retries();
    // The session holds the clock: the PUT below locks the tenant and the service, then waits for it.
    await session.query('BEGIN');
    await session.query('SELECT revision FROM store_revision FOR UPDATE');
    const put = api.request('PUT', '/v1/routes/steady/web/canary', { body: { url: 'https://canary.steady.internal' } });
    await lockWaiters(1);
    // The deletion begins while the PUT holds the tenant, and waits for it.
    const deletion = api.request('DELETE', '/v1/tenants/steady');
    await lockWaiters(2);
    await session.query('COMMIT');
    expect((await put).status).toBe(201);
    expect((await deletion).status).toBe(204);
    // Its statement saw the new route: no foreign-key failure, no second attempt.
    expect(await retries()).toBe(before);
    const { rows } = await api.db.query<{ route_key: string }>(
      "SELECT route_key FROM outbox WHERE route_key LIKE 'steady/%' AND event_type = 'traffic-manager.route.deleted.v1' ORDER BY route_key",
    );
    expect(rows.map((r) => r.route_key)).toEqual(['steady/web/canary', 'steady/web/prod', 'steady/web/staging']);
  });

  it('under concurrent PUTs into the tenant and others: no deadlock, no gap in revisions, every route ends as its last event says', async () => {
    await api.request('POST', '/v1/tenants', { body: { slug: 'churn' } });
    await api.db.query(`
      WITH s AS (INSERT INTO services (tenant_id, name) SELECT id, 'svc-' || g FROM tenants, generate_series(1, 5) g WHERE slug = 'churn' RETURNING id)
      INSERT INTO endpoints (service_id, environment, url, revision) SELECT s.id, 'env-' || g, 'https://churn.example/' || g, 1 FROM s, generate_series(1, 100) g`);
    const before = await deadlocks();
    const beforeMissed = await retries('23503');
    let deleting = true;
    const statuses: number[] = [];
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; deleting || i < 5; i++) {
        const route = w < 4 ? `churn/svc-${(i % 6) + 1}/env-${(w * 37 + i * 11) % 120}` : `churn-bystander-${w}/web/env-${i % 10}`;
        statuses.push((await api.request('PUT', `/v1/routes/${route}`, { body: { url: `https://w${w}-${i}.example` } })).status);
      }
    };
    const writers = [0, 1, 2, 3, 4, 5].map(writer);
    while (statuses.length < 20) await new Promise((r) => setTimeout(r, 5));
    const res = await api.request('DELETE', '/v1/tenants/churn');
    deleting = false;
    await Promise.all(writers);
    expect(res.status).toBe(204);
    expect(statuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
    expect(await deadlocks()).toBe(before);
    // Nor did the deletion miss a route created meanwhile (its service's foreign key would have failed).
    expect(await retries('23503')).toBe(beforeMissed);
    // Revisions: at least one outbox row each (the deletion's many), none skipped, the clock at the last.
    const { rows: gaps } = await api.db.query<{ n: string; lo: string; hi: string }>('SELECT count(DISTINCT revision) AS n, min(revision) AS lo, max(revision) AS hi FROM outbox');
    expect(Number(gaps[0]?.hi) - Number(gaps[0]?.lo) + 1).toBe(Number(gaps[0]?.n));
    expect(Number(gaps[0]?.hi)).toBe(await clock());
    // Each churn route's last event is its state now: deleted when it is gone, else its URL and revision.
    const { rows: mismatched } = await api.db.query(
      `WITH last AS (
         SELECT DISTINCT ON (route_key) route_key, event_type, payload FROM outbox WHERE route_key LIKE 'churn/%' ORDER BY route_key, revision DESC),
       now AS (
         SELECT t.slug || '/' || s.name || '/' || e.environment AS route_key, e.url, e.revision
           FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'churn')
       SELECT coalesce(l.route_key, n.route_key) AS route_key, l.event_type, n.url
         FROM last l FULL JOIN now n ON n.route_key = l.route_key
        WHERE n.route_key IS NULL AND l.event_type <> 'traffic-manager.route.deleted.v1'
           OR n.route_key IS NOT NULL AND (l.route_key IS NULL OR l.payload->'data'->>'url' IS DISTINCT FROM n.url OR (l.payload->'data'->>'revision')::bigint <> n.revision)`,
    );
    expect(mismatched).toEqual([]);
    // Every seeded route got its deleted event.
    const { rows: seeded } = await api.db.query<{ n: number }>(
      "SELECT count(DISTINCT route_key)::int AS n FROM outbox WHERE route_key ~ '^churn/svc-[1-5]/env-([1-9][0-9]?|100)$' AND event_type = 'traffic-manager.route.deleted.v1'",
    );
    expect(seeded[0]?.n).toBe(500);
  }, 120_000);

  it('a tenant with 11,000 routes is deleted in one transaction with 11,000 events at one revision', async () => {
    await api.request('POST', '/v1/tenants', { body: { slug: 'big' } });
    await api.db.query(`
      WITH s AS (INSERT INTO services (tenant_id, name) SELECT id, 'svc-' || g FROM tenants, generate_series(1, 110) g WHERE slug = 'big' RETURNING id)
      INSERT INTO endpoints (service_id, environment, url, revision) SELECT s.id, 'env-' || g, 'https://big.example/' || g, 1 FROM s, generate_series(1, 100) g`);
    const before = await clock();
    const res = await api.request('DELETE', '/v1/tenants/big');
    expect(res.status).toBe(204);
    const { rows } = await api.db.query<{ n: number; lo: string; hi: string }>(
      "SELECT count(*)::int AS n, min(revision) AS lo, max(revision) AS hi FROM outbox WHERE route_key LIKE 'big/%' AND event_type = 'traffic-manager.route.deleted.v1'",
    );
    expect(rows[0]?.n).toBe(11_000);
    expect(Number(rows[0]?.lo)).toBe(before + 1);
    expect(Number(rows[0]?.hi)).toBe(before + 1);
    expect(await clock()).toBe(before + 1);
    expect((await api.request('GET', '/v1/tenants/big')).status).toBe(404);
  }, 120_000);
});
