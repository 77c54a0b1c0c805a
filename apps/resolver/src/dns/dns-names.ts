import { NAME_PATTERN, type RouteId } from '@tm/contracts';

/** The URL schemes a route's service records are named after (`_http._tcp.`, `_https._tcp.`). */
export type Scheme = 'http' | 'https';

/**
 * What a name in the zone is (docs/dns.md, "Names"), read right to left below the zone:
 *
 *   <zone>                                   apex: SOA, NS
 *   <tenant>.<zone>, <service>.<tenant>...   a tenant's or service's name (no records of its own)
 *   <environment>.<service>.<tenant>.<zone>  a route: A / AAAA / CNAME of the pick
 *   _<scheme>._tcp.<route>                   SRV of every selectable endpoint, TXT of the pick
 *   _tcp.<route>                             (no records of its own)
 *   <endpoint id>.ep.<route>                 an endpoint whose host is an IP literal: its A / AAAA
 *   ep.<route>                               (no records of its own)
 *
 * Anything else in the zone does not exist. Names are compared in lower case (DNS is case-blind);
 * answers repeat the question's spelling.
 */
export type ZoneName =
  | { kind: 'outside' }
  | { kind: 'apex' }
  | { kind: 'absent' }
  | { kind: 'tenant'; tenant: string }
  | { kind: 'service'; tenant: string; service: string }
  | { kind: 'route'; route: RouteId }
  | { kind: 'tcp'; route: RouteId }
  | { kind: 'srv'; route: RouteId; scheme: Scheme }
  | { kind: 'endpoints'; route: RouteId }
  | { kind: 'endpoint'; route: RouteId; endpoint: string };

/** A zone as configured (`DNS_ZONE`): lower case, without the final dot. */
export function zoneOf(configured: string): string {
  return configured.toLowerCase().replace(/\.$/, '');
}

/** Whether a zone name is acceptable: one or more labels of letters, digits and hyphens, at most 200 characters. */
export function isZoneName(value: string): boolean {
  const zone = value.replace(/\.$/, '');
  if (zone.length === 0 || zone.length > 200) return false;
  return zone.split('.').every((label) => /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/.test(label));
}

/** Reads `name` (as dns-packet decodes it: no final dot) against `zone` (zoneOf's). */
export function readName(name: string, zone: string): ZoneName {
  const lower = name.toLowerCase().replace(/\.$/, '');
  if (lower === zone) return { kind: 'apex' };
  if (!lower.endsWith(`.${zone}`)) return { kind: 'outside' };
  const labels = lower.slice(0, -(zone.length + 1)).split('.');
  const n = labels.length;
  const tenant = labels[n - 1] as string;
  if (!labels.every((l) => l.length > 0)) return { kind: 'absent' };
  if (!NAME_PATTERN.test(tenant)) return { kind: 'absent' };
  if (n === 1) return { kind: 'tenant', tenant };
  const service = labels[n - 2] as string;
  if (!NAME_PATTERN.test(service)) return { kind: 'absent' };
  if (n === 2) return { kind: 'service', tenant, service };
  const environment = labels[n - 3] as string;
  if (!NAME_PATTERN.test(environment)) return { kind: 'absent' };
  const route = { tenant, service, environment };
  if (n === 3) return { kind: 'route', route };
  const fourth = labels[n - 4] as string;
  if (n === 4) {
    if (fourth === '_tcp') return { kind: 'tcp', route };
    if (fourth === 'ep') return { kind: 'endpoints', route };
    return { kind: 'absent' };
  }
  if (n === 5) {
    const first = labels[0] as string;
    if (fourth === '_tcp' && (first === '_http' || first === '_https')) return { kind: 'srv', route, scheme: first === '_http' ? 'http' : 'https' };
    if (fourth === 'ep' && NAME_PATTERN.test(first)) return { kind: 'endpoint', route, endpoint: first };
  }
  return { kind: 'absent' };
}

/** The name of a route in the zone. */
export function routeName(route: RouteId, zone: string): string {
  return `${route.environment}.${route.service}.${route.tenant}.${zone}`;
}

/** The synthetic name of an endpoint whose host is an IP literal (an SRV target needs a name). */
export function endpointName(route: RouteId, endpoint: string, zone: string): string {
  return `${endpoint}.ep.${routeName(route, zone)}`;
}
