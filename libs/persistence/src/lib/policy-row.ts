import { singleEndpoint, type HealthCheck, type PolicyEndpoint, type TrafficPolicy } from '@tm/contracts';

/** The policy columns of a route's row (see the traffic-policies migration). */
export interface PolicyColumns {
  url: string;
  revision: string | number;
  policy: TrafficPolicy | null;
  health_revisions: Record<string, number | string> | null;
}

/** The columns to select with a route's row (`e` the endpoints table's alias) for routePolicy. */
export const POLICY_COLUMNS = 'e.policy, e.health_revisions';

/**
 * A route's endpoints with their health revisions, and its health check, from its row: a row
 * without a policy is its URL alone (endpoint `default`, its health from the row's revision).
 */
export function routePolicy(row: PolicyColumns): { endpoints: PolicyEndpoint[]; healthCheck: HealthCheck | null } {
  const revision = Number(row.revision);
  if (row.policy === null) return { endpoints: [{ ...singleEndpoint(row.url), healthRevision: revision }], healthCheck: null };
  const revisions = row.health_revisions ?? {};
  return {
    endpoints: row.policy.endpoints.map((e) => ({ ...e, healthRevision: Number(revisions[e.id] ?? revision) })),
    healthCheck: row.policy.healthCheck ?? null,
  };
}
