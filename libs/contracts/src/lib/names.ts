/** A tenant, service or environment name (docs/guarantees.md, "Words"). */
export const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function isValidName(value: string): boolean {
  return NAME_PATTERN.test(value);
}

export interface RouteId {
  tenant: string;
  service: string;
  environment: string;
}

/** The route key `tenant/service/environment`: Kafka message key, event subject, cache key suffix. */
export function routeKey(route: RouteId): string {
  return `${route.tenant}/${route.service}/${route.environment}`;
}

/** Parses a route key; undefined when it is not three valid names. */
export function parseRouteKey(key: string): RouteId | undefined {
  const parts = key.split('/');
  if (parts.length !== 3 || !parts.every(isValidName)) return undefined;
  const [tenant, service, environment] = parts as [string, string, string];
  return { tenant, service, environment };
}
