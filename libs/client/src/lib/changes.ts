import type { RouteId } from '@tm/contracts';
import { bodyOf, commandUrlOf, json, type CommandTarget, type Route, type RouteBody } from './commands';
import { httpError, TrafficManagerError } from './errors';
import { exchange, headersOf, type Deadline, type HttpAnswer } from './http';
import { parseRoute, routePath, type RouteRef } from './route';
import { waitQuery, type Propagation, type WaitOptions } from './wait';

/**
 * Change sets, history, rollback, revert and propagation (docs/changes.md): the command API's
 * `POST /v1/changes`, `GET /v1/changes/{R}`, `POST /v1/changes/{R}/revert`,
 * `GET /v1/routes/{t}/{s}/{e}/history`, `POST /v1/routes/{t}/{s}/{e}/rollback` and `GET /v1/revisions/{R}`.
 */

/** One change of a set: a put of a route's body (a URL or a policy), or a delete; each with an optional compare. */
export type Change =
  | {
      op: 'put';
      route: RouteRef;
      body: RouteBody;
      /** The route must be at this revision (the one the change was planned against). */
      ifRevision?: number | undefined;
      /** The route must not exist. */
      ifAbsent?: true | undefined;
    }
  | { op: 'delete'; route: RouteRef; ifRevision?: number | undefined };

export interface ApplyOptions extends WaitOptions {
  /** Why: shown in history and the audit log (at most 500 characters). */
  description?: string | undefined;
}

/** What a change of a set did. */
export interface ChangeOutcome {
  route: string;
  op: 'put' | 'delete';
  result: 'created' | 'updated' | 'deleted' | 'unchanged';
  /** The route's revision after the set; null: it does not exist. */
  revision: number | null;
}

/** A change set's answer (apply, rollback, revert). */
export interface ChangeSetResult {
  /** The set's revision; the store's current one when the set changed nothing. */
  revision: number;
  /** In the order of the request. */
  changes: ChangeOutcome[];
  /** With `wait`: whether the set reached the caches and resolvers within the wait. */
  propagation?: Propagation;
}

/** Who made a change: a stored key, the admin token, or (null) unknown (a version from before history was kept). */
export type Author = { keyId: string; keyName: string } | { admin: true } | null;

/** One version of a route (`GET /v1/routes/{t}/{s}/{e}/history`). */
export interface HistoryEntry {
  revision: number;
  at: string;
  op: 'put' | 'delete';
  /** The route after the change; null after a delete. */
  route: Route | null;
  by: Author;
  requestId: string | null;
  /** How many routes the change set changed. */
  changeSetSize: number | null;
  description: string | null;
}

export interface HistoryPage {
  /** Newest first. */
  items: HistoryEntry[];
  nextCursor: string | null;
}

export interface HistoryOptions {
  /** At most this many versions in the page (1 to 500; the server's default 50). */
  limit?: number | undefined;
  /** The `nextCursor` of the page before. */
  cursor?: string | null | undefined;
}

/** A change set read back (`GET /v1/changes/{R}`): its routes of the tenants the key may read. */
export interface ChangeSet {
  revision: number;
  at: string;
  by: Author;
  requestId: string | null;
  description: string | null;
  changes: { route: string; op: 'put' | 'delete'; body: RouteBody | null }[];
}

export interface RollbackOptions extends WaitOptions {
  /** `If-Match`: the route must be at this revision now. */
  ifRevision?: number | undefined;
}

function revisionOf(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new TrafficManagerError('invalid_argument', `${name} must be a revision: a whole number of 1 or more (got ${String(value).slice(0, 50)})`);
  }
  return value;
}

/** The JSON of a change, checked as far as the client can (the command API checks the rest, naming `changes[i].…`). */
function changeOf(change: Change, index: number): Record<string, unknown> {
  if (typeof change !== 'object' || change === null) throw new TrafficManagerError('invalid_argument', `changes[${index}] must be a change`);
  const route = routePath(parseRoute(change.route));
  const sent: Record<string, unknown> = { op: change.op, route };
  if (change.ifRevision !== undefined) sent['ifRevision'] = revisionOf(change.ifRevision, `changes[${index}].ifRevision`);
  if (change.op === 'put') {
    try {
      sent['body'] = bodyOf(change.body);
    } catch (e) {
      if (e instanceof TrafficManagerError) throw new TrafficManagerError('invalid_argument', `changes[${index}].body: ${e.message}`);
      throw e;
    }
    if (change.ifAbsent !== undefined) {
      if (change.ifAbsent !== true) throw new TrafficManagerError('invalid_argument', `changes[${index}].ifAbsent must be true`);
      sent['ifAbsent'] = true;
    }
  } else if (change.op !== 'delete') {
    throw new TrafficManagerError('invalid_argument', `changes[${index}].op must be put or delete`);
  }
  return sent;
}

function failed(answer: HttpAnswer): TrafficManagerError {
  return httpError(answer.status, answer.statusText, answer.body, answer.headers.get('retry-after'));
}

function changeSetResult(answer: HttpAnswer, what: string): ChangeSetResult {
  if (answer.status !== 200 && answer.status !== 201) throw failed(answer);
  const result = json<ChangeSetResult>(answer, what);
  if (typeof result.revision !== 'number' || !Array.isArray(result.changes)) {
    throw new TrafficManagerError('http_error', `${what}: the answer is not a change set's`, { status: answer.status });
  }
  return result;
}

function post(target: CommandTarget, path: string, body: unknown, headers: Record<string, string>, deadline: Deadline, what: string): Promise<HttpAnswer> {
  return exchange(
    `${commandUrlOf(target)}${path}`,
    { method: 'POST', headers: headersOf(target.apiKey, { 'content-type': 'application/json', ...headers }), body: JSON.stringify(body) },
    deadline,
    what,
  );
}

/** `POST /v1/changes`: every change at one new revision, or none (`conflict` with `conflicts`, `bad_request` with `errors`). */
export async function applyChanges(target: CommandTarget, changes: readonly Change[], options: ApplyOptions, deadline: Deadline): Promise<ChangeSetResult> {
  if (!Array.isArray(changes) || changes.length === 0) throw new TrafficManagerError('invalid_argument', 'a change set needs at least one change');
  const body: Record<string, unknown> = { changes: changes.map(changeOf) };
  if (options.description !== undefined) body['description'] = options.description;
  const what = `apply ${changes.length} change(s)`;
  return changeSetResult(await post(target, `/v1/changes${waitQuery(options)}`, body, {}, deadline, what), what);
}

/** `GET /v1/routes/{t}/{s}/{e}/history`: one page, newest first. */
export async function routeHistory(target: CommandTarget, id: RouteId, options: HistoryOptions, deadline: Deadline): Promise<HistoryPage> {
  const query = new URLSearchParams();
  if (options.limit !== undefined) {
    if (!Number.isSafeInteger(options.limit) || options.limit < 1 || options.limit > 500) throw new TrafficManagerError('invalid_argument', 'limit must be a whole number from 1 to 500');
    query.set('limit', String(options.limit));
  }
  if (options.cursor !== undefined && options.cursor !== null) query.set('cursor', options.cursor);
  const what = `history ${routePath(id)}`;
  const search = query.size > 0 ? `?${query.toString()}` : '';
  const answer = await exchange(`${commandUrlOf(target)}/v1/routes/${routePath(id)}/history${search}`, { headers: headersOf(target.apiKey) }, deadline, what);
  if (answer.status !== 200) throw failed(answer);
  const page = json<HistoryPage>(answer, what);
  if (!Array.isArray(page.items)) throw new TrafficManagerError('http_error', `${what}: the answer has no items`, { status: answer.status });
  return { items: page.items, nextCursor: page.nextCursor ?? null };
}

/** `GET /v1/changes/{R}`; undefined when there is no change set at R the key may see. */
export async function changeSetAt(target: CommandTarget, revision: number, deadline: Deadline): Promise<ChangeSet | undefined> {
  const what = `change set ${revisionOf(revision, 'revision')}`;
  const answer = await exchange(`${commandUrlOf(target)}/v1/changes/${revision}`, { headers: headersOf(target.apiKey) }, deadline, what);
  if (answer.status === 404) return undefined;
  if (answer.status !== 200) throw failed(answer);
  return json<ChangeSet>(answer, what);
}

/** What a key may do (`GET /v1/whoami`): a stored key's id, name, tenant and scopes, or `{admin: true}` for the admin token. */
export interface Whoami {
  keyId?: string;
  name?: string;
  tenant?: string | null;
  admin?: true;
  scopes: string[];
}

/** `GET /v1/whoami` on the command API. */
export async function whoamiOf(target: CommandTarget, deadline: Deadline): Promise<Whoami> {
  const answer = await exchange(`${commandUrlOf(target)}/v1/whoami`, { headers: headersOf(target.apiKey) }, deadline, 'whoami');
  if (answer.status !== 200) throw failed(answer);
  return json<Whoami>(answer, 'whoami');
}

/** `POST /v1/routes/{t}/{s}/{e}/rollback`: the route as of `toRevision`, in a new change set. */
export async function rollbackRoute(target: CommandTarget, id: RouteId, toRevision: number, options: RollbackOptions, deadline: Deadline): Promise<ChangeSetResult> {
  const body = { toRevision: revisionOf(toRevision, 'toRevision') };
  const headers: Record<string, string> = options.ifRevision === undefined ? {} : { 'if-match': `"${revisionOf(options.ifRevision, 'ifRevision')}"` };
  const what = `rollback ${routePath(id)} to ${toRevision}`;
  return changeSetResult(await post(target, `/v1/routes/${routePath(id)}/rollback${waitQuery(options)}`, body, headers, deadline, what), what);
}

/** `POST /v1/changes/{R}/revert`: every route the set at R changed back to its state before, in a new change set. */
export async function revertChangeSet(target: CommandTarget, revision: number, options: WaitOptions, deadline: Deadline): Promise<ChangeSetResult> {
  const what = `revert ${revisionOf(revision, 'revision')}`;
  return changeSetResult(await post(target, `/v1/changes/${revision}/revert${waitQuery(options)}`, {}, {}, deadline, what), what);
}

/** `GET /v1/revisions/{R}`: where the revision has reached. */
export async function revisionStatus(target: CommandTarget, revision: number, deadline: Deadline): Promise<Propagation> {
  const what = `status of revision ${revisionOf(revision, 'revision')}`;
  const answer = await exchange(`${commandUrlOf(target)}/v1/revisions/${revision}`, { headers: headersOf(target.apiKey) }, deadline, what);
  if (answer.status !== 200) throw failed(answer);
  const status = json<Propagation>(answer, what);
  if (status.status !== 'pending' && status.status !== 'in-sync') throw new TrafficManagerError('http_error', `${what}: the answer has no status`, { status: 200 });
  return status;
}
