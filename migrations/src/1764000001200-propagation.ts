import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Propagation (docs/guarantees.md, "Propagation"): where on Kafka the events up to a revision are.
 *
 *   relay_positions  a row per revision R the relay recorded once every outbox row up to R was
 *                    published: `offsets` maps each partition of the route events topic (a JSON
 *                    object, partition -> offset as a string) to an offset at or above the highest
 *                    one any event up to R was written at. Offsets only grow with R, so the row of
 *                    the smallest recorded revision >= R answers for R (it may ask for more, never
 *                    for less). The relay prunes old rows, always keeping the newest.
 */
export class Propagation1764000001200 implements MigrationInterface {
  name = 'Propagation1764000001200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE relay_positions (
        revision bigint PRIMARY KEY CONSTRAINT relay_positions_revision_positive CHECK (revision > 0),
        offsets jsonb NOT NULL CONSTRAINT relay_positions_offsets_object CHECK (jsonb_typeof(offsets) = 'object'),
        recorded_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE relay_positions`);
  }
}
