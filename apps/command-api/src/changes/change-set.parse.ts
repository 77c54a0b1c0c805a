import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { parseRouteKey, routeKey, type RouteId } from '@tm/contracts';
import { fieldErrorsOf, ProblemException, type FieldError } from '@tm/platform';
import { PutRouteDto } from '../routes/dto/put-route.dto';
import { checkPolicy, type ParsedPolicy } from '../routes/policy';

/** The compares a change may carry: the route's revision, or (a put) that the route does not exist. */
export interface ChangeCompare {
  ifRevision?: number;
  ifAbsent?: true;
}

interface ChangeBase extends ChangeCompare {
  /** The change's place in the request (`changes[index]`). */
  index: number;
  id: RouteId;
  key: string;
  /** The tenant's id the change was decided for (rollback, revert): a conflict when the slug names another tenant now. */
  tenantId?: string;
}

export interface PutChange extends ChangeBase {
  op: 'put';
  parsed: ParsedPolicy;
}

export interface DeleteChange extends ChangeBase {
  op: 'delete';
}

export type ParsedChange = PutChange | DeleteChange;

const FIELDS = new Set(['op', 'route', 'body', 'ifRevision', 'ifAbsent']);

/** Field errors listed in one answer at most: a set of 1,000 bad changes does not answer with 1,000 errors each. */
const MAX_ERRORS = 100;

/** Longest unknown field name an error repeats (the caller's input). */
const MAX_FIELD_NAME = 64;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A put's body as a route PUT validates it: the DTO's rules, then the policy's. */
function parseBody(body: unknown, field: string, maxTimeoutSeconds: number, errors: FieldError[]): ParsedPolicy | undefined {
  if (!isObject(body)) {
    errors.push({ field, message: `${field} must be an object (a route PUT body)` });
    return undefined;
  }
  const dto = plainToInstance(PutRouteDto, body, { enableImplicitConversion: false });
  const invalid = validateSync(dto, { whitelist: true, forbidNonWhitelisted: true, validationError: { target: false, value: false } });
  if (invalid.length > 0) {
    errors.push(...fieldErrorsOf(invalid, field));
    return undefined;
  }
  const checked = checkPolicy(dto, maxTimeoutSeconds);
  if ('errors' in checked) {
    errors.push(...checked.errors.map((e) => ({ field: `${field}.${e.field}`, message: e.message })));
    return undefined;
  }
  return checked.parsed;
}

function parseCompare(change: Record<string, unknown>, at: string, errors: FieldError[]): ChangeCompare {
  const compare: ChangeCompare = {};
  const { ifRevision, ifAbsent } = change;
  if (ifRevision !== undefined) {
    if (typeof ifRevision === 'number' && Number.isSafeInteger(ifRevision) && ifRevision >= 1) compare.ifRevision = ifRevision;
    else errors.push({ field: `${at}.ifRevision`, message: 'ifRevision must be a whole number of 1 or more (a revision)' });
  }
  if (ifAbsent !== undefined) {
    if (ifAbsent !== true) errors.push({ field: `${at}.ifAbsent`, message: 'ifAbsent must be true when given' });
    else if (change['op'] !== 'put') errors.push({ field: `${at}.ifAbsent`, message: 'ifAbsent is for put only' });
    else if (ifRevision !== undefined) errors.push({ field: `${at}.ifAbsent`, message: 'give ifRevision or ifAbsent, not both' });
    else compare.ifAbsent = true;
  }
  return compare;
}

function parseChange(change: unknown, index: number, maxTimeoutSeconds: number, errors: FieldError[]): ParsedChange | undefined {
  const at = `changes[${index}]`;
  if (!isObject(change)) {
    errors.push({ field: at, message: `${at} must be an object` });
    return undefined;
  }
  const before = errors.length;
  for (const name of Object.keys(change)) {
    if (!FIELDS.has(name)) {
      const shown = name.length > MAX_FIELD_NAME ? `${name.slice(0, MAX_FIELD_NAME - 1)}…` : name;
      errors.push({ field: `${at}.${shown}`, message: `property ${shown} should not exist` });
    }
  }
  const { op, route, body } = change;
  if (op !== 'put' && op !== 'delete') errors.push({ field: `${at}.op`, message: 'op must be put or delete' });
  const id = typeof route === 'string' ? parseRouteKey(route) : undefined;
  if (!id) {
    errors.push({
      field: `${at}.route`,
      message: 'route must be tenant/service/environment, each 1 to 63 lowercase letters, digits or hyphens, starting and ending with a letter or digit',
    });
  }
  const compare = parseCompare(change, at, errors);
  let parsed: ParsedPolicy | undefined;
  if (op === 'put') parsed = parseBody(body, `${at}.body`, maxTimeoutSeconds, errors);
  else if (op === 'delete' && body !== undefined) errors.push({ field: `${at}.body`, message: 'a delete has no body' });
  if (errors.length > before || !id) return undefined;
  const base = { index, id, key: routeKey(id), ...compare };
  return parsed ? { ...base, op: 'put', parsed } : { ...base, op: 'delete' };
}

/**
 * The changes of a POST /v1/changes body (docs/changes.md), or a 400 that lists what is wrong with
 * each (`changes[3].body.url`): 1 to `maxChanges` changes, each a put with a route PUT body or a
 * delete, each route at most once.
 */
export function parseChanges(changes: unknown, maxChanges: number, maxTimeoutSeconds: number): ParsedChange[] {
  const errors: FieldError[] = [];
  if (!Array.isArray(changes) || changes.length < 1 || changes.length > maxChanges) {
    errors.push({ field: 'changes', message: `changes must be a list of 1 to ${maxChanges} changes (CHANGESET_MAX_CHANGES)` });
    throw invalidChangeSet(errors);
  }
  const parsed: ParsedChange[] = [];
  const first = new Map<string, number>();
  changes.forEach((raw: unknown, index) => {
    if (errors.length >= MAX_ERRORS) return;
    const change = parseChange(raw, index, maxTimeoutSeconds, errors);
    if (!change) return;
    const seen = first.get(change.key);
    if (seen !== undefined) errors.push({ field: `changes[${index}].route`, message: `route ${change.key} is also changes[${seen}]: a change set changes each route at most once` });
    else first.set(change.key, index);
    parsed.push(change);
  });
  if (errors.length > 0) throw invalidChangeSet(errors.slice(0, MAX_ERRORS));
  return parsed;
}

function invalidChangeSet(errors: FieldError[]): ProblemException {
  return new ProblemException(400, 'Bad Request', 'the change set is not valid; see errors (nothing was applied)', { code: 'validation', errors });
}
