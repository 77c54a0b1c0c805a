import { PROBLEM_TYPE_PREFIX } from '@tm/contracts';
import { parseRetryAfter } from '@tm/watch';

/**
 * Every error the SDK throws or emits is a TrafficManagerError with a stable `code`. The codes are
 * part of the public API (docs/http-apis.md, "Errors"); messages are for people and may change.
 */
export type TrafficManagerErrorCode =
  /** The call's deadline (`timeoutMs`) passed. */
  | 'timeout'
  /** The caller's AbortSignal fired. */
  | 'aborted'
  /** A 503 (a dependency of the server is down, or it is overloaded); `retryAfterMs` says when to try again. */
  | 'unavailable'
  /** A 429: the key's requests per second are over the server's limit; `retryAfterMs` says when to try again. */
  | 'rate_limited'
  /** A 429 on opening a watch: the key's or the tenant's watch streams are at their limit; the watch retries after `retryAfterMs`. */
  | 'watch_stream_quota'
  /** A 409 on a put: the tenant has as many routes as it may. */
  | 'tenant_route_quota'
  /** A 409 on a put: the tenant has as many probed endpoints as it may. */
  | 'tenant_probe_quota'
  /** 401: the API key is missing or unknown. */
  | 'unauthorized'
  /** 403: the key lacks the scope or the tenant. */
  | 'forbidden'
  /** 400 (or 413, 414, 415): the server refused the request as malformed. */
  | 'bad_request'
  /**
   * 412: a precondition failed (If-Match, If-None-Match, a change set's `ifRevision`/`ifAbsent`, or a
   * revision beyond the store's); or a revert's 409 (a route changed since). `conflicts` lists the
   * routes of a change set's, a rollback's or a revert's.
   */
  | 'conflict'
  /** 410 on a rollback: the kept history does not reach the revision (`problem.oldestRevision` says how far it goes). */
  | 'history_gone'
  /** A 404 that is not a route's absence (no X-Consistency-Revision: not the resolver's answer). */
  | 'not_found'
  /** The route exists but has no endpoint enabled or draining (every one is disabled): nothing to call. */
  | 'no_enabled_endpoint'
  /** An option given to the constructor (or the CLI) is not acceptable; the message names it. */
  | 'invalid_config'
  /** A session token that this SDK did not make. */
  | 'invalid_token'
  /** A route id that is not `tenant/service/environment` of valid names. */
  | 'invalid_route'
  /** An argument that is not acceptable (a URL to put, a revision). */
  | 'invalid_argument'
  /** Any other HTTP status, or an answer the SDK cannot read. */
  | 'http_error'
  /** The server could not be reached (refused, reset, DNS). */
  | 'network'
  /** The client was closed. */
  | 'closed';

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  code?: string;
  errors?: { field: string; message: string }[];
  [member: string]: unknown;
}

/** A route whose compare failed in a change set (a 412), or that changed since the set a revert undoes (a 409). */
export interface Conflict {
  /** `tenant/service/environment`. */
  route: string;
  /** The revision the change expected; null: that the route was absent (`ifAbsent`). */
  expected: number | null;
  /** The route's revision now; null: it does not exist. */
  actual: number | null;
}

/** A field the server refused (a 400), such as `changes[3].body.url`. */
export interface FieldError {
  field: string;
  message: string;
}

export interface TrafficManagerErrorOptions {
  status?: number | undefined;
  problem?: Problem | undefined;
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

export class TrafficManagerError extends Error {
  override readonly name = 'TrafficManagerError';
  readonly code: TrafficManagerErrorCode;
  /** The HTTP status, when the error is an HTTP answer. */
  readonly status?: number;
  /** The RFC 9457 problem the server sent, when it sent one. */
  readonly problem?: Problem;
  /** From `Retry-After` (on `unavailable`, `rate_limited`, `watch_stream_quota`). */
  readonly retryAfterMs?: number;
  /** On `conflict` from a change set, a rollback or a revert: the routes that were not as expected (nothing was applied). */
  readonly conflicts?: readonly Conflict[];
  /** On `bad_request`: the fields the server refused, as it named them. */
  readonly errors?: readonly FieldError[];

  constructor(code: TrafficManagerErrorCode, message: string, options: TrafficManagerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.status !== undefined) this.status = options.status;
    if (options.problem !== undefined) this.problem = options.problem;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    const conflicts = conflictsOf(options.problem);
    if (conflicts !== undefined) this.conflicts = conflicts;
    const errors = fieldErrorsOf(options.problem);
    if (errors !== undefined) this.errors = errors;
  }
}

function isRevision(value: unknown): value is number | null {
  return value === null || (typeof value === 'number' && Number.isSafeInteger(value));
}

/** The problem's `conflicts`, when it has a readable list of them. */
function conflictsOf(problem: Problem | undefined): Conflict[] | undefined {
  const raw = problem?.['conflicts'];
  if (!Array.isArray(raw)) return undefined;
  const out: Conflict[] = [];
  for (const item of raw as unknown[]) {
    const c = item as Partial<Record<keyof Conflict, unknown>> | null;
    if (typeof c !== 'object' || c === null || typeof c.route !== 'string' || !isRevision(c.expected ?? null) || !isRevision(c.actual ?? null)) continue;
    out.push({ route: c.route, expected: (c.expected ?? null) as number | null, actual: (c.actual ?? null) as number | null });
  }
  return out;
}

/** The problem's `errors` (a 400's fields), when it has a readable list of them. */
function fieldErrorsOf(problem: Problem | undefined): FieldError[] | undefined {
  const raw = problem?.errors as unknown;
  if (!Array.isArray(raw)) return undefined;
  return (raw as unknown[]).flatMap((e) => {
    const f = e as Partial<Record<keyof FieldError, unknown>> | null;
    return typeof f === 'object' && f !== null && typeof f.field === 'string' && typeof f.message === 'string' ? [{ field: f.field, message: f.message }] : [];
  });
}

/** The code of an HTTP error status. */
export function codeOfStatus(status: number): TrafficManagerErrorCode {
  switch (status) {
    case 400:
    case 413:
    case 414:
    case 415:
    case 422:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 412:
      return 'conflict';
    case 429:
      return 'rate_limited';
    case 503:
      return 'unavailable';
    default:
      return 'http_error';
  }
}

/**
 * The server's code of a problem: its `code` member, or, from a server older than the member,
 * the end of its `type` (`urn:traffic-manager:problem:<code>`). Undefined when it has none.
 */
export function problemCode(problem: Problem | undefined): string | undefined {
  if (typeof problem?.code === 'string') return problem.code;
  const type = problem?.type;
  return typeof type === 'string' && type.startsWith(PROBLEM_TYPE_PREFIX) ? type.slice(PROBLEM_TYPE_PREFIX.length) : undefined;
}

/** The server's problem codes that are codes of the SDK's own, with the status each comes with. */
const PROBLEM_CODES = new Map<string, { status: number; code: TrafficManagerErrorCode }>([
  ['no_enabled_endpoint', { status: 404, code: 'no_enabled_endpoint' }],
  ['rate_limited', { status: 429, code: 'rate_limited' }],
  ['watch_stream_quota', { status: 429, code: 'watch_stream_quota' }],
  ['tenant_route_quota', { status: 409, code: 'tenant_route_quota' }],
  ['tenant_probe_quota', { status: 409, code: 'tenant_probe_quota' }],
  // A revert whose routes changed since the set it undoes: a conflict, as a failed compare is.
  ['conflict', { status: 409, code: 'conflict' }],
  ['history_gone', { status: 410, code: 'history_gone' }],
]);

/** The code of an HTTP error answer: the problem's, when it is one of the SDK's codes, else the status's. */
export function codeOfAnswer(status: number, problem: Problem | undefined): TrafficManagerErrorCode {
  const known = PROBLEM_CODES.get(problemCode(problem) ?? '');
  return known !== undefined && known.status === status ? known.code : codeOfStatus(status);
}

/** A `Retry-After` value (seconds or an HTTP date) in milliseconds; the watch's reading (@tm/watch), one for the SDK. */
export { parseRetryAfter };

/** Reads a problem+json body (or any JSON object); undefined when the body is not one. */
export function parseProblem(text: string): Problem | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Problem) : undefined;
  } catch {
    return undefined;
  }
}

const MAX_DETAIL = 300;

/** The error of an HTTP answer that is not a success: `412 Precondition Failed: <detail>`. */
export function httpError(status: number, statusText: string, body: string, retryAfter?: string | null): TrafficManagerError {
  const problem = parseProblem(body);
  const title = typeof problem?.title === 'string' ? problem.title : statusText;
  const rawDetail = typeof problem?.detail === 'string' ? problem.detail : '';
  // A 400 names its fields: the first few go into the message (a CLI user sees what to fix).
  const fields = Array.isArray(problem?.['errors'])
    ? (problem['errors'] as unknown[])
        .slice(0, 3)
        .map((e) => (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string' ? (e as { message: string }).message : undefined))
        .filter((m): m is string => m !== undefined)
    : [];
  const detail = oneLine(`${rawDetail}${fields.length > 0 ? ` (${fields.join('; ')})` : ''}`).slice(0, MAX_DETAIL);
  const message = `${status}${title ? ` ${oneLine(title)}` : ''}${detail ? `: ${detail}` : ''}`;
  const retryAfterMs = parseRetryAfter(retryAfter);
  return new TrafficManagerError(codeOfAnswer(status, problem), message, {
    status,
    ...(problem ? { problem } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Wraps anything thrown by fetch or a socket as a TrafficManagerError. */
export function asTrafficManagerError(e: unknown, what: string): TrafficManagerError {
  if (e instanceof TrafficManagerError) return e;
  let message = e instanceof Error ? e.message : String(e);
  // fetch says only "fetch failed"; the reason (ECONNREFUSED 127.0.0.1:3000, ...) is its cause.
  const cause = e instanceof Error ? (e.cause as { message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.message === 'string' && cause.message !== '') message = `${message} (${cause.message})`;
  return new TrafficManagerError('network', `${what}: ${message}`, { cause: e });
}
