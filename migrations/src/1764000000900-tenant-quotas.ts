import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tenant quotas (docs/guarantees.md, "Tenancy limits"): each tenant row counts its routes and its
 * probed endpoints, so that a write can check its tenant's room under the tenant row's lock instead
 * of counting rows (a count reads the statement's snapshot, which a concurrent create is not in).
 *
 *   route_count            the tenant's endpoint rows (one per route)
 *   probed_endpoint_count  the endpoints the probers probe: those of routes with a health check,
 *                          but for disabled ones (probed_endpoints(policy))
 *
 * Statement triggers on endpoints keep both exact whatever writes the rows: the command API, a
 * tenant deletion, a command API of the previous version during a rolling upgrade, SQL by hand.
 * The quota itself is the writer's check (its limits are configuration): see the command API's
 * write store. The counts are backfilled with every writer held off (the lock below).
 */
export class TenantQuotas1764000000900 implements MigrationInterface {
  name = 'TenantQuotas1764000000900';

  async up(q: QueryRunner): Promise<void> {
    // Writes wait for the backfill and the triggers: no route is counted twice or missed.
    await q.query(`LOCK TABLE tenants, services, endpoints IN SHARE ROW EXCLUSIVE MODE`);
    await q.query(`
      CREATE FUNCTION probed_endpoints(policy jsonb) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CASE WHEN jsonb_typeof(policy -> 'healthCheck') = 'object'
                    THEN (SELECT count(*)::integer FROM jsonb_array_elements(policy -> 'endpoints') e
                           WHERE COALESCE(e ->> 'state', 'enabled') <> 'disabled')
                    ELSE 0 END
      $$`);
    await q.query(`
      ALTER TABLE tenants
        ADD COLUMN route_count integer NOT NULL DEFAULT 0 CONSTRAINT tenants_route_count_nonnegative CHECK (route_count >= 0),
        ADD COLUMN probed_endpoint_count integer NOT NULL DEFAULT 0
          CONSTRAINT tenants_probed_endpoint_count_nonnegative CHECK (probed_endpoint_count >= 0)`);
    await q.query(`
      UPDATE tenants t SET route_count = c.routes, probed_endpoint_count = c.probed
        FROM (SELECT s.tenant_id, count(*)::integer AS routes, sum(probed_endpoints(e.policy))::integer AS probed
                FROM endpoints e JOIN services s ON s.id = e.service_id GROUP BY s.tenant_id) c
       WHERE t.id = c.tenant_id`);
    // One function for the three triggers: `added` and `removed` are the statement's transition
    // tables (an UPDATE has both). A tenant whose counts do not change is not written.
    await q.query(`
      CREATE FUNCTION tenant_counts_follow_endpoints() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          UPDATE tenants t SET route_count = t.route_count + d.routes, probed_endpoint_count = t.probed_endpoint_count + d.probed
            FROM (SELECT s.tenant_id, count(*)::integer AS routes, sum(probed_endpoints(a.policy))::integer AS probed
                    FROM added a JOIN services s ON s.id = a.service_id GROUP BY s.tenant_id) d
           WHERE t.id = d.tenant_id;
        ELSIF TG_OP = 'DELETE' THEN
          UPDATE tenants t SET route_count = t.route_count - d.routes, probed_endpoint_count = t.probed_endpoint_count - d.probed
            FROM (SELECT s.tenant_id, count(*)::integer AS routes, sum(probed_endpoints(r.policy))::integer AS probed
                    FROM removed r JOIN services s ON s.id = r.service_id GROUP BY s.tenant_id) d
           WHERE t.id = d.tenant_id;
        ELSE
          UPDATE tenants t SET route_count = t.route_count + d.routes, probed_endpoint_count = t.probed_endpoint_count + d.probed
            FROM (SELECT s.tenant_id, sum(x.routes)::integer AS routes, sum(x.probed)::integer AS probed
                    FROM (SELECT service_id, 1 AS routes, probed_endpoints(policy) AS probed FROM added
                          UNION ALL
                          SELECT service_id, -1, -probed_endpoints(policy) FROM removed) x
                    JOIN services s ON s.id = x.service_id GROUP BY s.tenant_id) d
           WHERE t.id = d.tenant_id AND (d.routes <> 0 OR d.probed <> 0);
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE TRIGGER tenant_counts_on_insert AFTER INSERT ON endpoints REFERENCING NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION tenant_counts_follow_endpoints()`);
    await q.query(`
      CREATE TRIGGER tenant_counts_on_update AFTER UPDATE ON endpoints REFERENCING OLD TABLE AS removed NEW TABLE AS added
        FOR EACH STATEMENT EXECUTE FUNCTION tenant_counts_follow_endpoints()`);
    await q.query(`
      CREATE TRIGGER tenant_counts_on_delete AFTER DELETE ON endpoints REFERENCING OLD TABLE AS removed
        FOR EACH STATEMENT EXECUTE FUNCTION tenant_counts_follow_endpoints()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER tenant_counts_on_delete ON endpoints`);
    await q.query(`DROP TRIGGER tenant_counts_on_update ON endpoints`);
    await q.query(`DROP TRIGGER tenant_counts_on_insert ON endpoints`);
    await q.query(`DROP FUNCTION tenant_counts_follow_endpoints()`);
    await q.query(`ALTER TABLE tenants DROP COLUMN route_count, DROP COLUMN probed_endpoint_count`);
    await q.query(`DROP FUNCTION probed_endpoints(jsonb)`);
  }
}
