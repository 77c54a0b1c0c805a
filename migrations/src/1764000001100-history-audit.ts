import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * History and audit that outlive the outbox (docs/changes.md):
 *
 *   change_sets     one row per committed write (a change set: one route or many, one revision):
 *                   when, by whom (`by`: `{keyId, keyName}`, `{admin: true}`, NULL for a version the
 *                   migration made), the request id and client address, the description, how many
 *                   routes it changed, and the ids and slugs of the tenants it touched. It is the
 *                   audit log's `change-set` entry too, so it is kept as long as the audit log.
 *   route_versions  one row per route a change set changed: the route's state after it (`body`,
 *                   the route's PUT body, normalised; NULL on delete), whether it created the route,
 *                   and the route's createdAt. A route is its tenant's id, service and environment:
 *                   a tenant created again under an old slug has none of its predecessor's history.
 *   audit_log       every other audited event (tenant and key events, refused writes).
 *
 * None of them has a foreign key: they outlive the tenants, keys and routes they name. Every route
 * that exists now gets one version, its current state, at its revision (`by` NULL). Writers are held
 * off meanwhile, so no route is missed or given a second version at one revision.
 *
 * `audit:read` joins the scopes a key may hold.
 */
export class HistoryAudit1764000001100 implements MigrationInterface {
  name = 'HistoryAudit1764000001100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`LOCK TABLE tenants, services, endpoints IN SHARE ROW EXCLUSIVE MODE`);
    await q.query(`
      CREATE TABLE change_sets (
        revision bigint PRIMARY KEY,
        at timestamptz NOT NULL,
        by jsonb,
        request_id text,
        client_address text,
        description text CONSTRAINT change_sets_description_length CHECK (char_length(description) <= 500),
        size integer NOT NULL CONSTRAINT change_sets_size_positive CHECK (size > 0),
        tenant_ids uuid[] NOT NULL,
        tenants text[] NOT NULL
      )`);
    await q.query(`CREATE INDEX change_sets_at_idx ON change_sets (at)`);
    await q.query(`CREATE INDEX change_sets_tenant_ids_idx ON change_sets USING gin (tenant_ids)`);
    await q.query(`
      CREATE TABLE route_versions (
        tenant_id uuid NOT NULL,
        tenant text COLLATE "C" NOT NULL,
        service text COLLATE "C" NOT NULL,
        environment text COLLATE "C" NOT NULL,
        revision bigint NOT NULL,
        at timestamptz NOT NULL,
        op text NOT NULL CONSTRAINT route_versions_op_known CHECK (op IN ('put', 'delete')),
        body jsonb CONSTRAINT route_versions_body_on_put CHECK ((op = 'put') = (body IS NOT NULL)),
        created boolean NOT NULL DEFAULT false,
        created_at timestamptz,
        PRIMARY KEY (tenant_id, service, environment, revision)
      )`);
    await q.query(`CREATE INDEX route_versions_revision_idx ON route_versions (revision)`);
    await q.query(`CREATE INDEX route_versions_at_idx ON route_versions (at)`);
    await q.query(`
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT clock_timestamp(),
        action text NOT NULL CONSTRAINT audit_log_action_known
          CHECK (action IN ('tenant-created', 'tenant-deleted', 'tenant-updated', 'key-created', 'key-revoked', 'write-refused')),
        tenant_id uuid,
        tenant text,
        by jsonb,
        request_id text,
        client_address text,
        revision bigint,
        detail jsonb NOT NULL DEFAULT '{}'::jsonb
      )`);
    await q.query(`CREATE INDEX audit_log_at_idx ON audit_log (at)`);
    await q.query(`CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, at)`);
    // Every route as it is now: one version, at its revision, by nobody known.
    await q.query(`
      INSERT INTO change_sets (revision, at, size, tenant_ids, tenants)
      SELECT e.revision, max(e.updated_at), count(*), array_agg(DISTINCT t.id), array_agg(DISTINCT t.slug)
        FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id
       GROUP BY e.revision`);
    await q.query(`
      INSERT INTO route_versions (tenant_id, tenant, service, environment, revision, at, op, body, created_at)
      SELECT t.id, t.slug, s.name, e.environment, e.revision, e.updated_at, 'put',
             COALESCE(e.policy, jsonb_build_object('url', e.url)), e.created_at
        FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id`);
    await q.query(`ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_known`);
    await q.query(`
      ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['routes:read', 'routes:write', 'audit:read', 'admin']::text[])`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM api_keys WHERE 'audit:read' = ANY (scopes)`);
    await q.query(`ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_known`);
    await q.query(`
      ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_known
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['routes:read', 'routes:write', 'admin']::text[])`);
    await q.query(`DROP TABLE audit_log`);
    await q.query(`DROP TABLE route_versions`);
    await q.query(`DROP TABLE change_sets`);
  }
}
