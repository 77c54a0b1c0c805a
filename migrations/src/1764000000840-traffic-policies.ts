import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Traffic policies (docs/guarantees.md, "Traffic policies and health"). A route's row keeps its
 * `url` (the configuration's first choice) and gains:
 *
 *   policy            the whole policy, normalised (`{endpoints: [...], healthCheck}`); NULL for a
 *                     route that is one URL and nothing else, as every route before this migration:
 *                     they keep working unchanged, without rewriting the table.
 *   health_revisions  `{<endpoint id>: <revision>}`, the revision where each endpoint's health began
 *                     (where its URL or the health check last changed); NULL: the row's revision.
 *
 * During a rolling upgrade a command API of the previous version may still change a route's URL
 * without knowing about policies. The trigger keeps the row truthful: a URL changed with the policy
 * left as it was drops the policy (the route becomes that one URL, as the older writer meant).
 */
export class TrafficPolicies1764000000840 implements MigrationInterface {
  name = 'TrafficPolicies1764000000840';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE endpoints
        ADD COLUMN policy jsonb CONSTRAINT endpoints_policy_shape
          CHECK (policy IS NULL OR (jsonb_typeof(policy -> 'endpoints') = 'array' AND policy ? 'healthCheck')),
        ADD COLUMN health_revisions jsonb CONSTRAINT endpoints_health_revisions_shape
          CHECK (health_revisions IS NULL OR jsonb_typeof(health_revisions) = 'object')`);
    await q.query(`
      CREATE FUNCTION endpoints_policy_follows_url() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.url IS DISTINCT FROM OLD.url AND OLD.policy IS NOT NULL AND NEW.policy IS NOT DISTINCT FROM OLD.policy THEN
          NEW.policy := NULL;
          NEW.health_revisions := NULL;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER endpoints_policy_follows_url BEFORE UPDATE OF url ON endpoints
        FOR EACH ROW EXECUTE FUNCTION endpoints_policy_follows_url()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER endpoints_policy_follows_url ON endpoints`);
    await q.query(`DROP FUNCTION endpoints_policy_follows_url()`);
    await q.query(`ALTER TABLE endpoints DROP COLUMN policy, DROP COLUMN health_revisions`);
  }
}
