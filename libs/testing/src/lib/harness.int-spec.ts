import { Client } from 'pg';
import { createClient } from 'redis';
import { createTestDatabase, dropTestDatabase, TEST_DB_PREFIX } from './database';
import { testInfra } from './env';
import { deleteTopics, testKafka, testTopic } from './kafka';
import { deleteKeysWithPrefix, testKeyPrefix } from './redis';

async function databaseExists(name: string): Promise<boolean> {
  const admin = new Client({ connectionString: testInfra().postgresUrl });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  } finally {
    await admin.end();
  }
}

describe('test harness', () => {
  it('gives each caller its own migrated database and drops it', async () => {
    const [a, b] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    try {
      expect(a.name).not.toBe(b.name);
      expect(a.name.startsWith(TEST_DB_PREFIX)).toBe(true);
      const client = new Client({ connectionString: a.url });
      await client.connect();
      const { rows } = await client.query<{ revision: string }>('SELECT revision FROM store_revision');
      await client.end();
      expect(rows).toEqual([{ revision: '0' }]);
    } finally {
      await Promise.all([a.drop(), b.drop()]);
    }
    expect(await databaseExists(a.name)).toBe(false);
    expect(await databaseExists(b.name)).toBe(false);
  });

  it('refuses to drop a database that is not a test one', async () => {
    await expect(dropTestDatabase('postgres')).rejects.toThrow(/not a test database/);
    expect(await databaseExists('postgres')).toBe(true);
  });

  it('deletes the keys under its prefix and nothing else', async () => {
    const prefix = testKeyPrefix();
    const other = testKeyPrefix();
    const client = createClient({ url: testInfra().redisUrl });
    await client.connect();
    try {
      await client.mSet({ [`${prefix}a`]: '1', [`${prefix}b`]: '2', [`${other}a`]: '3' });
      expect(await deleteKeysWithPrefix(prefix)).toBe(2);
      expect(await client.exists([`${prefix}a`, `${prefix}b`])).toBe(0);
      expect(await client.get(`${other}a`)).toBe('3');
      await expect(deleteKeysWithPrefix('tm:')).rejects.toThrow(/not a test prefix/);
    } finally {
      await deleteKeysWithPrefix(other);
      await client.close();
    }
  });

  it('creates and deletes topics of its own', async () => {
    const topic = testTopic();
    const admin = testKafka().admin();
    await admin.connect();
    try {
      await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
      expect(await admin.listTopics()).toContain(topic);
      await deleteTopics([topic]);
      expect(await admin.listTopics()).not.toContain(topic);
      await expect(deleteTopics(['tm.route-events.v1'])).rejects.toThrow(/not a test topic/);
    } finally {
      await admin.disconnect();
    }
  });
});
