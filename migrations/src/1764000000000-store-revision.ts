import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The store-wide revision clock (docs/guarantees.md, "revision"): one row, raised by one inside every
 * write transaction, whose row lock orders writers by commit.
 */
export class StoreRevision1764000000000 implements MigrationInterface {
  name = 'StoreRevision1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE store_revision (
        id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        revision bigint NOT NULL DEFAULT 0 CHECK (revision >= 0)
      )`);
    await q.query(`INSERT INTO store_revision (id, revision) VALUES (1, 0)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE store_revision`);
  }
}
