import { isValidName } from '@tm/contracts';
import { commandUrlOf, json, type CommandTarget } from './commands';
import { httpError, TrafficManagerError } from './errors';
import { exchange, headersOf, type Deadline, type HttpAnswer } from './http';

/** A tenant as the command API returns it (`GET /v1/tenants/{tenant}`). */
export interface Tenant {
  slug: string;
  displayName: string | null;
  /** Whether the resolver answers the tenant's routes over DNS (false, closed, unless an admin opened it). */
  dns: boolean;
  createdAt: string;
  updatedAt: string;
}

/** What `updateTenant` changes (`PATCH /v1/tenants/{tenant}`, admin): at least one of the two. */
export interface TenantUpdate {
  /** A name for people, 1 to 200 characters; null clears it. */
  displayName?: string | null | undefined;
  /** Open (true) or close (false) the tenant to DNS; the resolver learns it within its AUTH_CACHE_TTL_MS. */
  dns?: boolean | undefined;
}

function tenantPath(slug: string): string {
  if (typeof slug !== 'string' || !isValidName(slug)) throw new TrafficManagerError('invalid_argument', `not a tenant name: ${String(slug).slice(0, 100)}`);
  return `/v1/tenants/${slug}`;
}

/** The PATCH body, checked as far as the client can (the command API checks the rest, naming the field). */
function updateOf(update: TenantUpdate): Record<string, unknown> {
  if (typeof update !== 'object' || update === null) throw new TrafficManagerError('invalid_argument', 'the update must be {displayName?, dns?}');
  const body: Record<string, unknown> = {};
  if (update.displayName !== undefined) {
    if (update.displayName !== null && typeof update.displayName !== 'string') throw new TrafficManagerError('invalid_argument', 'displayName must be a string or null');
    body['displayName'] = update.displayName;
  }
  if (update.dns !== undefined) {
    if (typeof update.dns !== 'boolean') throw new TrafficManagerError('invalid_argument', 'dns must be true or false');
    body['dns'] = update.dns;
  }
  if (Object.keys(body).length === 0) throw new TrafficManagerError('invalid_argument', 'the update changes nothing: give displayName, dns or both');
  return body;
}

function tenantOf(answer: HttpAnswer, what: string): Tenant {
  const tenant = json<Tenant>(answer, what);
  if (typeof tenant !== 'object' || tenant === null || typeof tenant.slug !== 'string') {
    throw new TrafficManagerError('http_error', `${what}: the answer is not a tenant`, { status: answer.status });
  }
  return tenant;
}

/** `GET /v1/tenants/{tenant}`; undefined on 404. */
export async function getTenant(target: CommandTarget, slug: string, deadline: Deadline): Promise<Tenant | undefined> {
  const path = tenantPath(slug);
  const what = `tenant ${slug}`;
  const answer = await exchange(`${commandUrlOf(target)}${path}`, { headers: headersOf(target.apiKey) }, deadline, what);
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw httpError(answer.status, answer.statusText, answer.body, answer.headers.get('retry-after'));
  return tenantOf(answer, what);
}

/** `PATCH /v1/tenants/{tenant}`: the tenant after the update (an unknown tenant throws `not_found`). */
export async function patchTenant(target: CommandTarget, slug: string, update: TenantUpdate, deadline: Deadline): Promise<Tenant> {
  const path = tenantPath(slug);
  const body = updateOf(update);
  const what = `update tenant ${slug}`;
  const answer = await exchange(
    `${commandUrlOf(target)}${path}`,
    { method: 'PATCH', headers: headersOf(target.apiKey, { 'content-type': 'application/json' }), body: JSON.stringify(body) },
    deadline,
    what,
  );
  if (answer.status !== 200) throw httpError(answer.status, answer.statusText, answer.body, answer.headers.get('retry-after'));
  return tenantOf(answer, what);
}
