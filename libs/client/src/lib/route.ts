import { isValidName, type RouteId } from '@tm/contracts';
import { TrafficManagerError } from './errors';

/** A route as callers name it: `{tenant, service, environment}` or `'tenant/service/environment'`. */
export type RouteRef = RouteId | string;

export function parseRoute(ref: RouteRef): RouteId {
  if (typeof ref === 'string') {
    const id = parseRouteQuietly(ref);
    if (id) return id;
  } else if (
    typeof ref === 'object' &&
    ref !== null &&
    typeof ref.tenant === 'string' &&
    typeof ref.service === 'string' &&
    typeof ref.environment === 'string' &&
    isValidName(ref.tenant) &&
    isValidName(ref.service) &&
    isValidName(ref.environment)
  ) {
    return { tenant: ref.tenant, service: ref.service, environment: ref.environment };
  }
  throw new TrafficManagerError('invalid_route', `not a route (tenant/service/environment of lower-case names): ${describe(ref)}`);
}

function describe(ref: unknown): string {
  const text = typeof ref === 'string' ? ref : JSON.stringify(ref) ?? String(ref);
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

/** A `tenant/service/environment` string's names, or undefined when it is not one. */
export function parseRouteQuietly(ref: string): RouteId | undefined {
  const parts = ref.split('/');
  if (parts.length !== 3 || !parts.every(isValidName)) return undefined;
  const [tenant, service, environment] = parts as [string, string, string];
  return { tenant, service, environment };
}

export function routePath(id: RouteId): string {
  return `${id.tenant}/${id.service}/${id.environment}`;
}
