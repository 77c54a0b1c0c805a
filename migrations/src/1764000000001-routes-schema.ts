import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A tenant, service or environment name (docs/guarantees.md, "Words"), enforced by the database too. */
const NAME = `'^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'`;

/**
 * Names use the "C" collation: byte order is the API's list order, and the unique indexes serve it.
 *
 * Tenants, services, endpoints (one per route), API keys and the transactional outbox
 * (docs/guarantees.md, "Command API", "Events"; G1, G2, G7, G9). Constraints live here, not only in code.
 */
export class RoutesSchema1764000000001 implements MigrationInterface {
  name = 'RoutesSchema1764000000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE tenants (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        slug text COLLATE "C" NOT NULL CONSTRAINT tenants_slug_key UNIQUE CONSTRAINT tenants_slug_format CHECK (slug ~ ${NAME}),
        display_name text CONSTRAINT tenants_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 200),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE services (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        name text COLLATE "C" NOT NULL CONSTRAINT services_name_format CHECK (name ~ ${NAME}),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT services_tenant_name_key UNIQUE (tenant_id, name)
      )`);
    await q.query(`
      CREATE TABLE endpoints (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
        environment text COLLATE "C" NOT NULL CONSTRAINT endpoints_environment_format CHECK (environment ~ ${NAME}),
        url text NOT NULL CONSTRAINT endpoints_url_format CHECK (char_length(url) <= 2048 AND url ~* '^https?://[^/?#@]+'),
        revision bigint NOT NULL CONSTRAINT endpoints_revision_positive CHECK (revision > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT endpoints_service_environment_key UNIQUE (service_id, environment)
      )`);
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        lookup text NOT NULL CONSTRAINT api_keys_lookup_key UNIQUE,
        secret_hash bytea NOT NULL CONSTRAINT api_keys_secret_hash_length CHECK (octet_length(secret_hash) = 32),
        name text NOT NULL CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
        tenant_id uuid REFERENCES tenants (id) ON DELETE CASCADE,
        scopes text[] NOT NULL CONSTRAINT api_keys_scopes_known
          CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['routes:read', 'routes:write', 'admin']::text[]),
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        CONSTRAINT api_keys_admin_unbound CHECK (tenant_id IS NULL OR NOT ('admin' = ANY (scopes)))
      )`);
    await q.query(`
      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        event_id uuid NOT NULL CONSTRAINT outbox_event_id_key UNIQUE,
        route_key text NOT NULL,
        event_type text NOT NULL CONSTRAINT outbox_event_type_known
          CHECK (event_type IN ('traffic-manager.route.upserted.v1', 'traffic-manager.route.deleted.v1')),
        payload jsonb NOT NULL,
        revision bigint NOT NULL CONSTRAINT outbox_revision_key UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
      )`);
    // The relay reads unpublished rows in revision order; retention deletes old published ones.
    await q.query(`CREATE INDEX outbox_unpublished_idx ON outbox (revision) WHERE published_at IS NULL`);
    await q.query(`CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL`);
    await q.query(`CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE outbox`);
    await q.query(`DROP TABLE api_keys`);
    await q.query(`DROP TABLE endpoints`);
    await q.query(`DROP TABLE services`);
    await q.query(`DROP TABLE tenants`);
  }
}
