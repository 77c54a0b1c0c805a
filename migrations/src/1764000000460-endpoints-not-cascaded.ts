import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A route (an endpoint row) is never removed behind the statement's back: deleting a service that
 * still has endpoints fails (23503) instead of cascading. Every statement that removes routes names
 * them, so it writes one `deleted` event per route (G7); a tenant deletion deletes its endpoints
 * itself, and a route created meanwhile, which that statement did not see, makes it fail and run
 * again instead of vanishing without an event. Services and keys still go with their tenant.
 */
export class EndpointsNotCascaded1764000000460 implements MigrationInterface {
  name = 'EndpointsNotCascaded1764000000460';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE endpoints
        DROP CONSTRAINT endpoints_service_id_fkey,
        ADD CONSTRAINT endpoints_service_id_fkey FOREIGN KEY (service_id) REFERENCES services (id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE endpoints
        DROP CONSTRAINT endpoints_service_id_fkey,
        ADD CONSTRAINT endpoints_service_id_fkey FOREIGN KEY (service_id) REFERENCES services (id) ON DELETE CASCADE`);
  }
}
