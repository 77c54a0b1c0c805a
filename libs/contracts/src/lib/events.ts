import { parseRouteKey, routeKey, type RouteId } from './names';
import { policyOfData, type HealthCheck, type PolicyEndpoint } from './policy';

export const ROUTE_UPSERTED = 'traffic-manager.route.upserted.v1';
export const ROUTE_DELETED = 'traffic-manager.route.deleted.v1';
export type RouteEventType = typeof ROUTE_UPSERTED | typeof ROUTE_DELETED;
export const EVENT_SOURCE = '/traffic-manager/command-api';

export interface RouteEventData extends RouteId {
  /** The configuration's first choice (see primaryEndpoint); null when the route was deleted. */
  url: string | null;
  revision: number;
  /**
   * The route's endpoints with their health revisions; [] when it was deleted. Absent from the events
   * of a command API older than policies (the single-URL shape): read them with policyOfData.
   */
  endpoints?: PolicyEndpoint[];
  /** The route's health check; null when it is not probed (or deleted). */
  healthCheck?: HealthCheck | null;
}

/** A CloudEvents 1.0 structured JSON event (docs/guarantees.md, "Events"). */
export interface RouteEvent {
  specversion: '1.0';
  id: string;
  source: typeof EVENT_SOURCE;
  type: RouteEventType;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  /**
   * Extension attribute: the id of the route's tenant. A tenant is its id, not its slug: one deleted
   * and created again under the same slug has a new id. Absent from events written before it was carried.
   */
  tenantid?: string;
  /**
   * Extension attribute: how many routes the change set that made this event changed in all, all at
   * `data.revision` (a single route write: 1). A filtered watch stream may receive only its share of
   * them. Absent from events written before change sets.
   */
  changesetsize?: number;
  data: RouteEventData;
}

export function routeEvent(id: string, time: Date, data: RouteEventData, tenantId?: string, changeSetSize?: number): RouteEvent {
  return {
    specversion: '1.0',
    id,
    source: EVENT_SOURCE,
    type: data.url === null ? ROUTE_DELETED : ROUTE_UPSERTED,
    subject: routeKey(data),
    time: time.toISOString(),
    datacontenttype: 'application/json',
    ...(tenantId === undefined ? {} : { tenantid: tenantId }),
    ...(changeSetSize === undefined ? {} : { changesetsize: changeSetSize }),
    data,
  };
}

/** Parses and checks a route event; the reason is for the dead-letter header. */
export function parseRouteEvent(raw: string): { event: RouteEvent } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { error: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { error: 'not a JSON object' };
  const e = value as Partial<RouteEvent>;
  if (e.specversion !== '1.0') return { error: 'specversion is not 1.0' };
  if (typeof e.id !== 'string' || e.id === '') return { error: 'id is missing' };
  if (e.type !== ROUTE_UPSERTED && e.type !== ROUTE_DELETED) return { error: `unknown type ${String(e.type)}` };
  if (typeof e.time !== 'string' || Number.isNaN(Date.parse(e.time))) return { error: 'time is not a timestamp' };
  if (e.tenantid !== undefined && (typeof e.tenantid !== 'string' || !/^[0-9a-f-]{1,64}$/.test(e.tenantid))) return { error: 'tenantid is not a tenant id' };
  if (e.changesetsize !== undefined && !(Number.isSafeInteger(e.changesetsize) && e.changesetsize > 0)) return { error: 'changesetsize is not a positive integer' };
  const d = e.data;
  if (typeof d !== 'object' || d === null) return { error: 'data is missing' };
  const id = parseRouteKey(`${String(d.tenant)}/${String(d.service)}/${String(d.environment)}`);
  if (!id) return { error: 'data does not name a route' };
  if (e.subject !== routeKey(id)) return { error: 'subject does not match data' };
  if (!Number.isSafeInteger(d.revision) || d.revision <= 0) return { error: 'revision is not a positive integer' };
  if (e.type === ROUTE_UPSERTED ? typeof d.url !== 'string' : d.url !== null) return { error: 'url does not match type' };
  if (e.type === ROUTE_UPSERTED && !policyOfData(d as RouteEventData & { url: string })) return { error: 'endpoints or healthCheck are malformed' };
  if (e.type === ROUTE_DELETED && d.endpoints !== undefined && !(Array.isArray(d.endpoints) && d.endpoints.length === 0)) {
    return { error: 'a deletion has endpoints' };
  }
  return { event: e as RouteEvent };
}
