import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Change sets (docs/guarantees.md, "revision", G7): one write, one new revision, one outbox row per
 * route it changed, so a revision may hold many rows. Revisions stay dense (every revision that exists
 * has at least one row; a write that changes nothing takes none), but are no longer unique.
 *
 *   outbox_revision_key     dropped: the rows of one change set share their revision
 *   outbox_revision_idx     (revision, id): the watch reads whole revisions after a revision, and the
 *                           retention counts rows from the newest
 *   outbox_unpublished_idx  (revision, id) of the rows still to publish: the relay's cursor, which may
 *                           stop inside a revision (one may be larger than a batch)
 */
export class ChangeSetOutbox1764000001000 implements MigrationInterface {
  name = 'ChangeSetOutbox1764000001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox DROP CONSTRAINT outbox_revision_key`);
    await q.query(`CREATE INDEX outbox_revision_idx ON outbox (revision, id)`);
    await q.query(`DROP INDEX outbox_unpublished_idx`);
    await q.query(`CREATE INDEX outbox_unpublished_idx ON outbox (revision, id) WHERE published_at IS NULL`);
  }

  /** Fails (23505) while a revision holds more than one row: such an outbox has no place in the older schema. */
  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX outbox_unpublished_idx`);
    await q.query(`CREATE INDEX outbox_unpublished_idx ON outbox (revision) WHERE published_at IS NULL`);
    await q.query(`DROP INDEX outbox_revision_idx`);
    await q.query(`ALTER TABLE outbox ADD CONSTRAINT outbox_revision_key UNIQUE (revision)`);
  }
}
