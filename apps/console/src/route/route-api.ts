import { TrafficManagerError, type Apis } from '../api/api';
import type { components } from '../api/command-api.gen';

export type Route = components['schemas']['RouteResponse'];
export type PutBody = components['schemas']['PutRouteDto'];
export type RouteHealth = NonNullable<Awaited<ReturnType<typeof readHealth>>>;

export interface RouteId {
  tenant: string;
  service: string;
  environment: string;
}

/** A route as loaded, with its entity tag (`"<revision>"`): what a save sends back as If-Match. */
export interface Loaded {
  route: Route;
  etag: string;
}

export function etagOf(response: Response, revision: number): string {
  return response.headers.get('etag') ?? `"${revision}"`;
}

/** GET /v1/routes/{t}/{s}/{e} with its ETag; null when the route does not exist (404). */
export async function readRoute(apis: Apis, id: RouteId): Promise<Loaded | null> {
  try {
    const { data, response } = await apis.command.GET('/v1/routes/{tenant}/{service}/{environment}', { params: { path: id } });
    const route = data as Route;
    return { route, etag: etagOf(response, route.revision) };
  } catch (e) {
    if (e instanceof TrafficManagerError && e.status === 404) return null;
    throw e;
  }
}

/** The resolver's GET /v1/routes/{t}/{s}/{e}/health: each endpoint's health, since when, the last probe error. */
export async function readHealth(apis: Apis, id: RouteId) {
  if (!apis.resolver) return null;
  const { data } = await apis.resolver.GET('/v1/routes/{tenant}/{service}/{environment}/health', { params: { path: id } });
  return data as NonNullable<typeof data>;
}

/** The conditions a save sends: If-Match the revision it was loaded at, or If-None-Match * for a route to create. */
export type SaveCondition = { ifMatch: string } | { ifAbsent: true };

export interface Saved {
  loaded: Loaded;
  created: boolean;
}

/** PUT /v1/routes/{t}/{s}/{e} under a condition (412 when it fails: someone changed or created it meanwhile). */
export async function putRoute(apis: Apis, id: RouteId, body: PutBody, condition: SaveCondition): Promise<Saved> {
  const header = 'ifMatch' in condition ? { 'If-Match': condition.ifMatch } : { 'If-None-Match': '*' };
  const { data, response } = await apis.command.PUT('/v1/routes/{tenant}/{service}/{environment}', { params: { path: id, header }, body });
  const route = data as Route;
  return { loaded: { route, etag: etagOf(response, route.revision) }, created: response.status === 201 };
}

/** DELETE /v1/routes/{t}/{s}/{e} with If-Match; the revision of the deletion. */
export async function deleteRoute(apis: Apis, id: RouteId, ifMatch: string): Promise<number> {
  const { response } = await apis.command.DELETE('/v1/routes/{tenant}/{service}/{environment}', { params: { path: id, header: { 'If-Match': ifMatch } } });
  return Number(response.headers.get('x-route-revision'));
}

export function routeQueryKey(id: RouteId): readonly unknown[] {
  return ['route-page', id.tenant, id.service, id.environment];
}

export function healthQueryKey(id: RouteId): readonly unknown[] {
  return ['route-health', id.tenant, id.service, id.environment];
}

export function historyQueryKey(id: RouteId): readonly unknown[] {
  return ['route-history', id.tenant, id.service, id.environment];
}
