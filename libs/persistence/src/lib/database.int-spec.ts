import { DataSource } from 'typeorm';
import { createTestDatabase, freePort, type TestDatabase } from '@tm/testing';
import { postgresOptions } from './data-source';
import { PostgresReadiness } from './database.module';

describe('PostgresReadiness', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('is ready when PostgreSQL answers', async () => {
    const dataSource = await new DataSource(postgresOptions({ url: db.url, poolSize: 1 })).initialize();
    try {
      await expect(new PostgresReadiness(dataSource).check()).resolves.toBeUndefined();
    } finally {
      await dataSource.destroy();
    }
  });

  it('is not ready, quickly, when nothing listens', async () => {
    const url = new URL(db.url);
    url.port = String(await freePort());
    const dataSource = new DataSource(postgresOptions({ url: url.toString(), poolSize: 1 }));
    // Not initialised: the check must still answer rather than hang.
    const started = Date.now();
    await expect(new PostgresReadiness(dataSource).check()).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
