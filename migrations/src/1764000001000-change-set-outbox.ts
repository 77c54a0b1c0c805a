import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Change sets: one revision, one outbox row per changed route (many rows may share a revision). */
export class ChangeSetOutbox1764000001000 implements MigrationInterface {
  name = 'ChangeSetOutbox1764000001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox DROP CONSTRAINT outbox_revision_key`);
    await q.query(`CREATE INDEX outbox_revision_idx ON outbox (revision, id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX outbox_revision_idx`);
    await q.query(`ALTER TABLE outbox ADD CONSTRAINT outbox_revision_key UNIQUE (revision)`);
  }
}
