import { DataSource, QueryFailedError } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@tm/testing';
import { postgresOptions } from './data-source';
import { sqlState } from './pg-errors';
import { preparedQuery, statementName } from './prepared';

describe('preparedQuery', () => {
  let db: TestDatabase;
  let dataSource: DataSource;
  beforeAll(async () => {
    db = await createTestDatabase();
    dataSource = await new DataSource(postgresOptions({ url: db.url, poolSize: 1 })).initialize();
    await dataSource.query('CREATE TABLE prepared_probe (id integer PRIMARY KEY, v text NOT NULL)');
  });
  afterAll(async () => {
    await dataSource.destroy();
    await db.drop();
  });

  it('names a text the same way every time, and different texts differently', () => {
    expect(statementName('SELECT 1')).toBe(statementName('SELECT 1'));
    expect(statementName('SELECT 1')).not.toBe(statementName('SELECT 2'));
    expect(statementName('SELECT 1')).toMatch(/^tm_[0-9a-f]{24}$/);
  });

  it('prepares a statement once per connection and answers RETURNING rows, an UPDATE included', async () => {
    const insert = 'INSERT INTO prepared_probe (id, v) VALUES ($1, $2) RETURNING id, v';
    const update = 'UPDATE prepared_probe SET v = $2 WHERE id = $1 RETURNING id, v';
    expect(await preparedQuery(dataSource.manager, insert, [1, 'a'])).toEqual([{ id: 1, v: 'a' }]);
    expect(await preparedQuery(dataSource.manager, insert, [2, 'b'])).toEqual([{ id: 2, v: 'b' }]);
    expect(await preparedQuery(dataSource.manager, update, [1, 'c'])).toEqual([{ id: 1, v: 'c' }]);
    expect(await preparedQuery(dataSource.manager, update, [9, 'x'])).toEqual([]);
    // One pooled connection: both statements are prepared on it, once each.
    const prepared = await dataSource.query<{ name: string }[]>('SELECT name FROM pg_prepared_statements ORDER BY name');
    expect(prepared.map((p) => p.name).sort()).toEqual([statementName(insert), statementName(update)].sort());
  });

  it("runs on a transaction's own connection: what it writes commits or rolls back with the transaction", async () => {
    await dataSource
      .transaction(async (tx) => {
        await preparedQuery(tx, 'UPDATE prepared_probe SET v = $2 WHERE id = $1 RETURNING id', [2, 'rolled back']);
        throw new Error('roll back');
      })
      .catch(() => undefined);
    await dataSource.transaction((tx) => preparedQuery(tx, 'UPDATE prepared_probe SET v = $2 WHERE id = $1 RETURNING id', [1, 'committed']));
    expect(await dataSource.query('SELECT id, v FROM prepared_probe ORDER BY id')).toEqual([
      { id: 1, v: 'committed' },
      { id: 2, v: 'b' },
    ]);
  });

  it('fails as manager.query does: a QueryFailedError carrying the SQLSTATE, and the connection goes back to the pool', async () => {
    const failure = preparedQuery(dataSource.manager, 'INSERT INTO prepared_probe (id, v) VALUES ($1, $2) RETURNING id', [1, 'again']);
    await expect(failure).rejects.toBeInstanceOf(QueryFailedError);
    await expect(failure.catch((e: unknown) => sqlState(e))).resolves.toBe('23505');
    // The pool has one connection: a leaked one would make this wait for ever.
    expect(await preparedQuery(dataSource.manager, 'SELECT count(*)::int AS n FROM prepared_probe', [])).toEqual([{ n: 2 }]);
  });
});
