import { randomUUID } from 'node:crypto';
import {
  ArgumentsHost,
  Catch,
  HttpException,
  HttpStatus,
  Inject,
  Logger,
  Optional,
  ValidationPipe,
  type ExceptionFilter,
  type ValidationError,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Headers, PROBLEM_TYPE_PREFIX } from '@tm/contracts';
import { FastPathValidationPipe } from './fast-validation';

export interface FieldError {
  field: string;
  message: string;
}

/** An RFC 9457 problem: the one shape of every error answer (docs/guarantees.md, "HTTP conventions"). */
export class ProblemException extends Error {
  constructor(
    readonly status: number,
    /** A short, stable sentence for the kind of problem. */
    readonly title: string,
    /** What happened this time. */
    readonly detail: string,
    readonly extra: {
      errors?: FieldError[];
      headers?: Record<string, string>;
      /** The problem's code: sent as the `code` member and as `type` (`urn:traffic-manager:problem:<code>`). */
      code?: string;
      /** Members of this problem type beyond the standard ones (RFC 9457, "Extension Members"). */
      members?: Record<string, string | number | boolean>;
    } = {},
  ) {
    super(detail);
  }
}

/** A dependency (PostgreSQL, Redis, Kafka) does not answer: 503 with Retry-After. */
export class UnavailableException extends ProblemException {
  constructor(dependency: string, retryAfterSeconds = 5) {
    super(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', `${dependency} is unavailable; retry later`, {
      headers: { 'Retry-After': String(retryAfterSeconds) },
      code: 'dependency_unavailable',
    });
  }
}

export const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Error codes of PostgreSQL (class 08, 57P) and of sockets that mean "the database is not there". */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03']);
/** SQLSTATE class 08 connection exceptions (not 08P01, a protocol violation: that one is ours). */
const CONNECTION_EXCEPTIONS = new Set(['08000', '08001', '08003', '08004', '08006', '08007']);
/** SQLSTATEs of values PostgreSQL cannot store (a NUL in text, bad encoding): the request's fault. */
const BAD_VALUE_CODES = new Set(['22021', '22P02', '22P05', '22001', '22003']);
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'Client has encountered a connection error',
  'Connection is not established',
  'connect ECONNREFUSED',
  'The client is closed',
  'Query read timeout',
  // TypeORM before the data source connected (the app started while PostgreSQL was down).
  'Driver not Connected',
];

/**
 * What says "overloaded", not "unreachable": PostgreSQL's too_many_connections, and pg-pool's wait for a
 * pooled connection running out (only raised when every connection of the pool is taken).
 */
const OVERLOAD_CODES = new Set(['53300']);
const POOL_WAIT_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';

/** True when `e`, or an error it wraps (`driverError`, `cause`), matches. */
function anyInChain(e: unknown, matches: (err: { code?: unknown; message?: unknown }) => boolean): boolean {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 4; depth++) {
    const err = cur as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown };
    if (matches(err)) return true;
    cur = err.driverError ?? err.cause;
  }
  return false;
}

/** True when `e` (or the driver error inside it) says a dependency is unreachable, not that the request is wrong. */
export function isUnavailableError(e: unknown): boolean {
  return anyInChain(
    e,
    (err) =>
      (typeof err.code === 'string' && (UNAVAILABLE_CODES.has(err.code) || CONNECTION_EXCEPTIONS.has(err.code))) ||
      (typeof err.message === 'string' && UNAVAILABLE_MESSAGES.some((m) => (err.message as string).includes(m))),
  );
}

/**
 * True when `e` says a dependency answers but is overloaded (docs/guarantees.md: overload is a 503 with
 * Retry-After, never a STALE answer). A pool wait that ran out is overload only while the pool's
 * connections are up: `@tm/persistence`'s `databaseFailure` tells the two apart.
 */
export function isOverloadError(e: unknown): boolean {
  return anyInChain(e, (err) => typeof err.code === 'string' && OVERLOAD_CODES.has(err.code)) || isPoolWaitTimeout(e);
}

/** pg-pool's wait for a pooled connection ran out: every connection of the pool was taken. */
export function isPoolWaitTimeout(e: unknown): boolean {
  return anyInChain(e, (err) => typeof err.message === 'string' && err.message.includes(POOL_WAIT_TIMEOUT_MESSAGE));
}

/** Overload (a saturated pool, too many connections): 503 with a short Retry-After. */
export class OverloadedException extends ProblemException {
  constructor(dependency: string, retryAfterSeconds = 1) {
    super(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', `${dependency} is overloaded; retry later`, {
      headers: { 'Retry-After': String(retryAfterSeconds) },
      code: 'overloaded',
    });
  }
}

/**
 * The detail of an error the HTTP framework raised, by status; never its message, which quotes
 * the request (the URL, a piece of the body). `hint` (Fastify's code or message) tells apart the 400s.
 */
export function frameworkDetail(status: number, hint = ''): string {
  switch (status) {
    case 400:
      if (hint === 'FST_ERR_BAD_URL') return 'the request path is not valid percent-encoded UTF-8';
      if (hint === 'HTTP') return 'the request is not valid HTTP/1.1';
      if (/empty/i.test(hint)) return 'the request body is empty';
      if (/content-length/i.test(hint)) return 'the request body does not match its Content-Length';
      return 'the request body is not valid JSON';
    case 404:
      return 'no route matches this method and path';
    case 408:
      return 'the request did not arrive in time';
    case 413:
      return 'the request body is larger than the server accepts (16 KiB; 64 KiB for a route PUT)';
    case 414:
      return `a path segment is longer than ${MAX_PARAM_LENGTH} characters`;
    case 415:
      return 'the request body must be application/json';
    case 431:
      return 'the request headers are larger than the server accepts';
    default:
      return TITLES[status] ?? 'the request cannot be answered';
  }
}

/** Longest path parameter the router takes (Fastify's maxParamLength); a longer one is a 414. */
export const MAX_PARAM_LENGTH = 100;
/** Longest `instance` a problem carries: a longer path is left out rather than echoed. */
export const MAX_INSTANCE_LENGTH = 256;

/** The problem's `instance`: the request's path without its query (which may hold secrets), when short. */
export function instanceOf(url: string | undefined): string | undefined {
  const path = url?.split('?', 1)[0];
  return path !== undefined && path.length <= MAX_INSTANCE_LENGTH ? path : undefined;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** Present when the problem has a code; `type` is then `urn:traffic-manager:problem:<code>`. */
  code?: string;
  instance?: string;
  requestId?: string;
  errors?: FieldError[];
  errorId?: string;
}

/**
 * A problem's `type` and `code`: a problem with a code carries it twice, as the `code` member
 * (what clients read) and in `type`; one without keeps `about:blank` and no `code`.
 */
export function problemType(code: string | undefined): Pick<ProblemBody, 'type' | 'code'> {
  return code ? { type: `${PROBLEM_TYPE_PREFIX}${code}`, code } : { type: 'about:blank' };
}

/**
 * The fields that the database's CHECK constraints guard, by constraint name (provided by the
 * persistence lib, which owns the schema): a violation that reaches the filter is a 400 naming it.
 */
export const CHECK_CONSTRAINT_FIELDS_TOKEN = Symbol('CHECK_CONSTRAINT_FIELDS');

/** A CHECK violation (SQLSTATE 23514) as a 400; the field is named when the constraint is known. */
function checkViolation(exception: unknown, fields: Readonly<Record<string, string>>): FieldError[] | undefined {
  const driverError = (exception as { driverError?: { code?: unknown; constraint?: unknown } })?.driverError;
  if (driverError?.code !== '23514') return undefined;
  const field = typeof driverError.constraint === 'string' ? fields[driverError.constraint] : undefined;
  return field === undefined ? [] : [{ field, message: `${field} breaks a rule of the store (${String(driverError.constraint)})` }];
}

function problemOf(
  exception: unknown,
  constraintFields: Readonly<Record<string, string>> = {},
): { body: Omit<ProblemBody, 'requestId'>; headers: Record<string, string>; internal: boolean } {
  if (exception instanceof ProblemException) {
    return {
      body: {
        ...problemType(exception.extra.code),
        title: exception.title,
        status: exception.status,
        detail: exception.detail,
        ...(exception.extra.errors ? { errors: exception.extra.errors } : {}),
        ...exception.extra.members,
      },
      headers: exception.extra.headers ?? {},
      internal: false,
    };
  }
  // Nest's own: its router's 404 ("Cannot GET <the whole URL>") and the errors Fastify raises while
  // reading a request (bad JSON, body too large, content type), which Nest maps to HttpExceptions
  // with Fastify's message. Their messages carry the request's input back: a fixed sentence instead.
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    return { body: { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail: frameworkDetail(status, exception.message) }, headers: {}, internal: false };
  }
  // Errors Fastify raises before a handler runs, when they reach us unmapped.
  const fastifyError = exception as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (
    typeof fastifyError.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500 &&
    typeof fastifyError.code === 'string' &&
    fastifyError.code.startsWith('FST_')
  ) {
    const status = fastifyError.statusCode;
    return { body: { type: 'about:blank', title: TITLES[status] ?? 'Bad Request', status, detail: frameworkDetail(status, fastifyError.code) }, headers: {}, internal: false };
  }
  if (exception instanceof SyntaxError && /JSON/.test(exception.message)) {
    return { body: { type: 'about:blank', title: 'Bad Request', status: 400, detail: 'the request body is not valid JSON' }, headers: {}, internal: false };
  }
  const violated = checkViolation(exception, constraintFields);
  if (violated) {
    return {
      body: { ...problemType('validation'), title: 'Bad Request', status: 400, detail: 'a value in the request breaks a rule of the store; see errors', errors: violated },
      headers: {},
      internal: false,
    };
  }
  const sqlState = (exception as { driverError?: { code?: unknown } })?.driverError?.code;
  if (typeof sqlState === 'string' && BAD_VALUE_CODES.has(sqlState)) {
    return { body: { type: 'about:blank', title: 'Bad Request', status: 400, detail: 'a value in the request cannot be stored' }, headers: {}, internal: false };
  }
  if (isUnavailableError(exception) || isOverloadError(exception)) {
    const unavailable = new UnavailableException('a dependency');
    return { ...problemOf(unavailable), internal: false };
  }
  return {
    body: { type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'an unexpected error occurred' },
    headers: {},
    internal: true,
  };
}

/**
 * The one exception filter: every error becomes application/problem+json with the request id.
 * Unexpected errors are logged with an error id (also sent to the client) and never expose internals.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger('Errors');

  constructor(
    @Optional() @Inject(CHECK_CONSTRAINT_FIELDS_TOKEN) private readonly constraintFields: Readonly<Record<string, string>> = {},
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const { body, headers, internal } = problemOf(exception, this.constraintFields);
    if (body.status === 400 && body.errors?.length === 0) {
      // A CHECK the service should never break (a revision, a hash): ours to fix, so say which.
      const constraint = (exception as { driverError?: { constraint?: unknown } }).driverError?.constraint;
      this.logger.error({ requestId: String(request.id), constraint }, `check constraint ${String(constraint)} violated`);
    }
    const problem: ProblemBody = { ...body, instance: instanceOf(request.url), requestId: String(request.id) };
    if (internal) {
      problem.errorId = randomUUID();
      // Only what explains the error: never the query parameters (they may hold secrets or hashes).
      const err = exception as { name?: unknown; message?: unknown; code?: unknown; stack?: unknown };
      this.logger.error(
        {
          errorId: problem.errorId,
          requestId: problem.requestId,
          err: { type: err?.name, message: err?.message, code: err?.code, stack: err?.stack },
        },
        `unexpected error ${problem.errorId}`,
      );
    } else if (body.status >= 500) {
      this.logger.warn({ requestId: problem.requestId, err: String(exception) }, body.detail);
    }
    // Set here too: an answer to a request whose hooks did not all run (a 404 for a malformed path) has it as well.
    void reply
      .status(body.status)
      .header(Headers.requestId, problem.requestId)
      .headers(headers)
      .type('application/problem+json')
      .send(problem);
  }
}

/** Longest property name an error shows: an unknown field's name is the caller's input. */
const MAX_FIELD_NAME = 64;

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const name = error.property.length > MAX_FIELD_NAME ? `${error.property.slice(0, MAX_FIELD_NAME - 1)}…` : error.property;
    const field = parent ? `${parent}.${name}` : name;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message: message.split(error.property).join(name) }));
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/**
 * The global ValidationPipe: unknown fields refused, values transformed, 400 problems with field
 * errors; a DTO with a fast path (FastValidation) skips class-validator when it plainly holds
 * (`fastPaths: false`: never, for tests that compare the two).
 */
export function validationPipe(options: { fastPaths?: boolean } = {}): ValidationPipe {
  const Pipe = options.fastPaths === false ? ValidationPipe : FastPathValidationPipe;
  return new Pipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const fieldErrors = flatten(errors);
      return new ProblemException(400, 'Bad Request', 'the request is not valid; see errors', {
        errors: fieldErrors,
        code: 'validation',
      });
    },
  });
}
