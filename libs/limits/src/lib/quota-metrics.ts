import { Counter, type Registry } from 'prom-client';

const QUOTA_REFUSALS = 'tm_quota_refusals_total';

/**
 * `tm_quota_refusals_total{limit, tenant}`: every request a tenancy limit refused, by limit (`routes`,
 * `probed_endpoints`, `rate`, ...) and tenant slug (`-` for a key bound to no tenant). One counter
 * per registry, whichever part of the app refuses first registers it.
 */
export function quotaRefusals(registry: Registry): Counter<'limit' | 'tenant'> {
  const existing = registry.getSingleMetric(QUOTA_REFUSALS) as Counter<'limit' | 'tenant'> | undefined;
  return (
    existing ??
    new Counter({
      name: QUOTA_REFUSALS,
      help: 'Requests refused by a tenancy limit (docs/guarantees.md, "Tenancy limits"), by limit and tenant ("-": a key bound to no tenant)',
      labelNames: ['limit', 'tenant'],
      registers: [registry],
    })
  );
}
