import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * DNS (docs/dns.md): whether the resolver answers a tenant's routes over DNS. Closed by default: DNS
 * carries no key, so an admin opens a tenant (`PATCH /v1/tenants/{t}` `{"dns": true}`).
 */
export class TenantDns1764000001300 implements MigrationInterface {
  name = 'TenantDns1764000001300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tenants ADD COLUMN dns boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tenants DROP COLUMN dns`);
  }
}
