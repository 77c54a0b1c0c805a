import { once } from 'node:events';
import { createTestDatabase, type TestDatabase } from '@tm/testing';
import { Client } from 'pg';
import { LeaderLock, RELAY_LEADER_LOCK } from './leader-lock';

describe('LeaderLock (real PostgreSQL)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('one of two replicas leads; when it lets go, the other takes over', async () => {
    const a = new LeaderLock(db.url, 50, 'a');
    const b = new LeaderLock(db.url, 50, 'b');
    try {
      const aLeads = once(a, 'leader');
      a.start();
      await aLeads;
      b.start();
      // b tries (and fails) a few times while a leads.
      await new Promise((r) => setTimeout(r, 200));
      expect(a.isLeader).toBe(true);
      expect(b.isLeader).toBe(false);
      const bLeads = once(b, 'leader');
      await a.stop();
      await bLeads;
      expect(b.isLeader).toBe(true);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it('the leader wakes on a committed NOTIFY, and loses the lead when its session is killed', async () => {
    const lock = new LeaderLock(db.url, 50, 'solo');
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    try {
      const leads = once(lock, 'leader');
      lock.start();
      await leads;
      const woken = once(lock, 'wake');
      await admin.query("SELECT pg_notify('tm_outbox', '1')");
      await woken;
      const lost = once(lock, 'lost');
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'outbox-relay-lock:solo'");
      // The next statement on the session fails, and with it the lead: a zombie leader cannot publish.
      await expect(lock.query('SELECT 1')).rejects.toThrow();
      await lost;
      await expect(lock.query('SELECT 1')).rejects.toThrow(/not the leader/);
      expect(lock.isLeader).toBe(false);
      // Nobody else holds it: the same replica takes the lead again.
      await once(lock, 'leader');
      expect(lock.isLeader).toBe(true);
    } finally {
      await lock.stop();
      await admin.end();
    }
  });

  it('runs statements on its own session, the one that holds the lock', async () => {
    const lock = new LeaderLock(db.url, 50, 'reader');
    try {
      await expect(lock.query('SELECT 1')).rejects.toThrow(/not the leader/);
      const leads = once(lock, 'leader');
      lock.start();
      await leads;
      const rows = await lock.query(
        `SELECT count(*)::int AS held FROM pg_locks
          WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objid = $1 AND granted`,
        [RELAY_LEADER_LOCK],
      );
      expect(rows).toEqual([{ held: 1 }]);
    } finally {
      await lock.stop();
    }
  });

  it('prepares its statements once, and marks without waiting for a WAL flush (a lost mark only publishes again)', async () => {
    const lock = new LeaderLock(db.url, 50, 'marker');
    try {
      const leads = once(lock, 'leader');
      lock.start();
      await leads;
      const statement = 'SELECT current_setting($1) AS value';
      expect(await lock.query(statement, ['synchronous_commit'])).toEqual([{ value: 'off' }]);
      expect(await lock.query(statement, ['synchronous_commit'])).toEqual([{ value: 'off' }]);
      const prepared = await lock.query('SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1', [statement]);
      expect(prepared).toEqual([{ n: 1 }]);
    } finally {
      await lock.stop();
    }
  });
});
