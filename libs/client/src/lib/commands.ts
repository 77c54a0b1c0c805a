import { endpointUrlProblem, Headers as H, type EndpointConfig, type EndpointInput, type EndpointState, type HealthCheck, type HealthCheckInput, type RouteId } from '@tm/contracts';
import { httpError, TrafficManagerError } from './errors';
import { exchange, headersOf, intHeader, type Deadline, type HttpAnswer } from './http';
import { routePath } from './route';
import { waitQuery, type Propagation, type WaitOptions } from './wait';

/** A route as the command API returns it. */
export interface Route extends RouteId {
  /** The configuration's first choice. */
  url: string;
  /** Every endpoint, defaults filled in (absent from a command API older than traffic policies). */
  endpoints?: EndpointConfig[];
  healthCheck?: HealthCheck | null;
  revision: number;
  createdAt: string;
  updatedAt: string;
}

/** A PUT's answer: the route as written, and whether the PUT created it (201) or updated it (200). */
export interface WrittenRoute extends Route {
  created: boolean;
  /** With `wait`: whether the write reached the caches and resolvers (`status: "in-sync"`) within the wait. */
  propagation?: Propagation;
}

export type { EndpointInput, HealthCheckInput };

/** A route PUT's body: one URL, or a traffic policy; either with an optional health check. */
export type RouteBody = { url: string; healthCheck?: HealthCheckInput | null | undefined } | { endpoints: EndpointInput[]; healthCheck?: HealthCheckInput | null | undefined };

/** The body to send, checked as far as the client can (the command API checks the rest, naming the field). */
export function bodyOf(body: RouteBody): Record<string, unknown> {
  if (typeof body !== 'object' || body === null) throw new TrafficManagerError('invalid_argument', 'the body must be {url} or {endpoints}');
  const healthCheck = body.healthCheck === undefined ? {} : { healthCheck: body.healthCheck };
  if ('endpoints' in body) {
    if (!Array.isArray(body.endpoints) || body.endpoints.length === 0) throw new TrafficManagerError('invalid_argument', 'endpoints must be a list of 1 to 16 endpoints');
    body.endpoints.forEach((e, i) => {
      const problem = endpointUrlProblem(e?.url);
      if (problem !== undefined) throw new TrafficManagerError('invalid_argument', `endpoints.${i}.url ${problem}`);
    });
    return { endpoints: body.endpoints, ...healthCheck };
  }
  const problem = endpointUrlProblem(body.url);
  if (problem !== undefined) throw new TrafficManagerError('invalid_argument', `url ${problem}`);
  return { url: body.url, ...healthCheck };
}

export interface RoutePage {
  items: Route[];
  nextCursor: string | null;
}

export interface WriteOptions {
  /** `If-Match: "<revision>"`: 412 (`conflict`) unless the route is at that revision. */
  ifMatch?: number | undefined;
  /** PUT only, `If-None-Match: *`: 412 (`conflict`) when the route exists. */
  ifNoneMatch?: '*' | undefined;
}

export interface CommandTarget {
  commandUrl: string | undefined;
  apiKey: string | undefined;
}

export function commandUrlOf(target: CommandTarget): string {
  if (target.commandUrl === undefined) throw new TrafficManagerError('invalid_config', 'commandUrl is needed for writes and command API reads');
  return target.commandUrl;
}

export function json<T>(answer: HttpAnswer, what: string): T {
  try {
    return JSON.parse(answer.body) as T;
  } catch {
    throw new TrafficManagerError('http_error', `${what}: the answer is not JSON`, { status: answer.status });
  }
}

function preconditions(options: WriteOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.ifMatch !== undefined) {
    if (!Number.isSafeInteger(options.ifMatch) || options.ifMatch < 0) {
      throw new TrafficManagerError('invalid_argument', 'ifMatch must be a revision (a whole number)');
    }
    headers['if-match'] = `"${options.ifMatch}"`;
  }
  if (options.ifNoneMatch !== undefined) {
    if (options.ifNoneMatch !== '*') throw new TrafficManagerError('invalid_argument', "ifNoneMatch must be '*'");
    headers['if-none-match'] = '*';
  }
  return headers;
}

/** `PUT /v1/routes/{t}/{s}/{e}`: the route and the write's revision. */
export async function putRoute(
  target: CommandTarget,
  id: RouteId,
  body: RouteBody,
  options: WriteOptions & WaitOptions,
  deadline: Deadline,
): Promise<{ route: Route & { propagation?: Propagation }; revision: number; created: boolean }> {
  const sent = bodyOf(body);
  const what = `put ${routePath(id)}`;
  const answer = await exchange(
    `${commandUrlOf(target)}/v1/routes/${routePath(id)}${waitQuery(options)}`,
    {
      method: 'PUT',
      headers: headersOf(target.apiKey, { 'content-type': 'application/json', ...preconditions(options) }),
      body: JSON.stringify(sent),
    },
    deadline,
    what,
  );
  if (answer.status !== 200 && answer.status !== 201) throw httpError(answer.status, answer.statusText, answer.body, answer.headers.get('retry-after'));
  const route = json<Route>(answer, what);
  const revision = intHeader(answer.headers, H.routeRevision) ?? route.revision;
  return { route, revision, created: answer.status === 201 };
}

/** `DELETE /v1/routes/{t}/{s}/{e}`: the deletion's revision, or undefined when there was no such route. */
export async function deleteRoute(target: CommandTarget, id: RouteId, options: WriteOptions & WaitOptions, deadline: Deadline): Promise<number | undefined> {
  if (options.ifNoneMatch !== undefined) throw new TrafficManagerError('invalid_argument', 'ifNoneMatch is for puts');
  const answer = await exchange(
    `${commandUrlOf(target)}/v1/routes/${routePath(id)}${waitQuery(options)}`,
    { method: 'DELETE', headers: headersOf(target.apiKey, preconditions(options)) },
    deadline,
    `delete ${routePath(id)}`,
  );
  if (answer.status === 404) return undefined;
  if (answer.status !== 204 && answer.status !== 200) throw httpError(answer.status, answer.statusText, answer.body, answer.headers.get('retry-after'));
  // With wait, a 200 {revision, propagation}.
  const revision = intHeader(answer.headers, H.routeRevision) ?? (answer.status === 200 ? json<{ revision?: unknown }>(answer, `delete ${routePath(id)}`).revision : undefined);
  if (typeof revision !== 'number') throw new TrafficManagerError('http_error', `delete ${routePath(id)}: no ${H.routeRevision} header`, { status: answer.status });
  return revision;
}

/** `GET /v1/routes/{t}/{s}/{e}` (the database, not the cache); undefined on 404. */
export async function getRoute(target: CommandTarget, id: RouteId, deadline: Deadline): Promise<Route | undefined> {
  const what = `get ${routePath(id)}`;
  const answer = await exchange(`${commandUrlOf(target)}/v1/routes/${routePath(id)}`, { headers: headersOf(target.apiKey) }, deadline, what);
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw httpError(answer.status, answer.statusText, answer.body, answer.headers.get('retry-after'));
  return json<Route>(answer, what);
}

/** One page of `GET /v1/routes?tenant=&cursor=`. */
export async function listRoutes(target: CommandTarget, tenant: string | undefined, cursor: string | undefined, deadline: Deadline): Promise<RoutePage> {
  const query = new URLSearchParams();
  if (tenant !== undefined) query.set('tenant', tenant);
  if (cursor !== undefined) query.set('cursor', cursor);
  query.set('limit', '500');
  const answer = await exchange(`${commandUrlOf(target)}/v1/routes?${query.toString()}`, { headers: headersOf(target.apiKey) }, deadline, 'list routes');
  if (answer.status !== 200) throw httpError(answer.status, answer.statusText, answer.body, answer.headers.get('retry-after'));
  const page = json<RoutePage>(answer, 'list routes');
  if (!Array.isArray(page.items)) throw new TrafficManagerError('http_error', 'list routes: the answer has no items', { status: answer.status });
  return page;
}

/** An endpoint's health as the resolver reports it (`GET /v1/routes/{t}/{s}/{e}/health`). */
export interface EndpointHealth {
  id: string;
  url: string;
  state: EndpointState;
  health: 'healthy' | 'unhealthy' | 'unknown';
  /** Since when (RFC 3339), when known. */
  since: string | null;
  lastError: { message: string; at: string; prober: string } | null;
}

/** A route's health: `probed` false when it has no health check (every endpoint `unknown`). */
export interface RouteHealth {
  endpoints: EndpointHealth[];
  probed: boolean;
}

/** `GET /v1/routes/{t}/{s}/{e}/health` (resolver); undefined on 404. */
export async function getHealth(resolverUrl: string, apiKey: string | undefined, id: RouteId, deadline: Deadline): Promise<RouteHealth | undefined> {
  const what = `health ${routePath(id)}`;
  const answer = await exchange(`${resolverUrl}/v1/routes/${routePath(id)}/health`, { headers: headersOf(apiKey) }, deadline, what);
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw httpError(answer.status, answer.statusText, answer.body, answer.headers.get('retry-after'));
  const health = json<RouteHealth>(answer, what);
  if (!Array.isArray(health.endpoints)) throw new TrafficManagerError('http_error', `${what}: the answer has no endpoints`, { status: answer.status });
  return health;
}
