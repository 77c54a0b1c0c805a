import { ProblemException } from '@tm/platform';
import { routeKey, type RouteId } from '@tm/contracts';
import type { QuotaRefusal } from '../store/write-store';

export function routeNotFound(id: RouteId): ProblemException {
  return new ProblemException(404, 'Not Found', `route ${routeKey(id)} does not exist`, { code: 'route_not_found' });
}

export function preconditionFailed(detail: string): ProblemException {
  return new ProblemException(412, 'Precondition Failed', detail, { code: 'precondition_failed' });
}

export function badCursor(): ProblemException {
  return new ProblemException(400, 'Bad Request', 'cursor is not a cursor this API gave out', {
    code: 'validation',
    errors: [{ field: 'cursor', message: 'cursor is not valid' }],
  });
}

export function badPrecondition(header: string, detail: string): ProblemException {
  return new ProblemException(400, 'Bad Request', detail, {
    code: 'validation',
    errors: [{ field: header, message: detail }],
  });
}

/** A write the tenant's quota (TENANT_MAX_ROUTES, TENANT_MAX_PROBED_ENDPOINTS) has no room for: nothing was written. */
export function tenantQuotaExceeded(tenant: string, refusal: QuotaRefusal, max: number): ProblemException {
  if (refusal.refused === 'routes') {
    return new ProblemException(409, 'Conflict', `tenant ${tenant} has ${refusal.count} routes, its most (TENANT_MAX_ROUTES ${max}); its existing routes can still be updated`, {
      code: 'tenant_route_quota',
    });
  }
  const detail =
    refusal.adding > max
      ? `this route alone has ${refusal.adding} probed endpoints, more than a tenant may have (TENANT_MAX_PROBED_ENDPOINTS ${max})`
      : `tenant ${tenant} has ${refusal.count} probed endpoints and this write would add ${refusal.adding}, beyond its most (TENANT_MAX_PROBED_ENDPOINTS ${max})`;
  return new ProblemException(409, 'Conflict', detail, { code: 'tenant_probe_quota' });
}
