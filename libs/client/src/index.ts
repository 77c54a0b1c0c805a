/**
 * @traffic-manager/client: which URL to call for tenant/service/environment, from memory when the
 * watch allows, with sessions (read-your-writes, monotonic reads) carried across services.
 */
export { TrafficManagerClient } from './lib/client';
export type { ClientStats, ListOptions, StatusOptions, TrafficManagerFastifyPlugin, TrafficManagerMiddleware, WatchStats } from './lib/client';
export { Session } from './lib/session';
export type { ResolveOptions, Resolution } from './lib/session';
export { TrafficManagerError } from './lib/errors';
export type { Conflict, FieldError, Problem, TrafficManagerErrorCode } from './lib/errors';
export type { TrafficManagerClientOptions } from './lib/options';
export type { RouteRef } from './lib/route';
export type { EndpointHealth, EndpointInput, HealthCheckInput, Route, RouteBody, RouteHealth, RoutePage, WriteOptions, WrittenRoute } from './lib/commands';
export type { Tenant, TenantUpdate } from './lib/tenants';
export type { ApplyOptions, Author, Change, ChangeOutcome, ChangeSet, ChangeSetResult, HistoryEntry, HistoryOptions, HistoryPage, RollbackOptions, Whoami } from './lib/changes';
export type { Propagation, ResolverPropagation, WaitOptions } from './lib/wait';
export type { Follow, FollowEvent, FollowOptions } from './lib/follow';
export type { CallOptions } from './lib/http';
export type { ClientEvents, ClientEventName } from './lib/emitter';
export type { WatchState } from './lib/watch';

import type { TrafficManagerClient } from './lib/client';
import type { TrafficManagerMiddleware } from './lib/client';

/** The client's middleware (the same as `client.middleware()`). */
export function trafficManagerMiddleware(client: TrafficManagerClient): TrafficManagerMiddleware {
  return client.middleware();
}
