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
      /** Members of this problem type beyond the standard ones (RFC 9457, "Extension Members"), JSON values of our own making (never unbounded input). */
      members?: Record<string, unknown>;
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

/**
 * Socket error codes, and messages of the clients, that mean "the dependency is not there" whatever
 * it is. What PostgreSQL's own errors mean (SQLSTATEs, pg's messages) is @tm/persistence's to say
 * (pg-errors.ts), and reaches the problem filter through STORE_ERRORS.
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH']);
const UNAVAILABLE_MESSAGES = ['Connection is not established', 'connect ECONNREFUSED', 'The client is closed'];

/** An error's `code` and `message`, as the chain walk sees each error. */
export interface ChainedError {
  code?: unknown;
  message?: unknown;
}

/** True when `e`, or an error it wraps (`driverError`, `cause`), matches. */
export function inErrorChain(e: unknown, matches: (err: ChainedError) => boolean): boolean {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 4; depth++) {
    const err = cur as ChainedError & { driverError?: unknown; cause?: unknown };
    if (matches(err)) return true;
    cur = err.driverError ?? err.cause;
  }
  return false;
}

/** True when `e` (or an error inside it) says a dependency is unreachable (a socket error), not that the request is wrong. */
export function isUnavailableError(e: unknown): boolean {
  return inErrorChain(
    e,
    (err) =>
      (typeof err.code === 'string' && UNAVAILABLE_CODES.has(err.code)) ||
      (typeof err.message === 'string' && UNAVAILABLE_MESSAGES.some((m) => (err.message as string).includes(m))),
  );
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
 * What an error of the store means to an answer: a CHECK a request value broke (`field`, when a
 * request value can break it; else the constraint, ours to fix), a value the store cannot hold
 * (both 400), or the store unreachable or overloaded (503).
 */
export type StoreErrorMeaning = { kind: 'check_violation'; constraint?: string; field?: string } | { kind: 'bad_value' } | { kind: 'unavailable' };

/** Reads the store's errors for the filter; provided (STORE_ERRORS) by the lib that owns the store and its driver (@tm/persistence). */
export interface StoreErrors {
  meaning(e: unknown): StoreErrorMeaning | undefined;
}

export const STORE_ERRORS = Symbol('STORE_ERRORS');

function problemOf(
  exception: unknown,
  storeErrors?: StoreErrors,
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
  const store = storeErrors?.meaning(exception);
  if (store?.kind === 'check_violation') {
    const { field, constraint } = store;
    const errors = field === undefined ? [] : [{ field, message: `${field} breaks a rule of the store (${String(constraint)})` }];
    return {
      body: { ...problemType('validation'), title: 'Bad Request', status: 400, detail: 'a value in the request breaks a rule of the store; see errors', errors },
      headers: {},
      internal: false,
    };
  }
  if (store?.kind === 'bad_value') {
    return { body: { type: 'about:blank', title: 'Bad Request', status: 400, detail: 'a value in the request cannot be stored' }, headers: {}, internal: false };
  }
  if (store?.kind === 'unavailable' || isUnavailableError(exception)) {
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
    @Optional() @Inject(STORE_ERRORS) private readonly storeErrors?: StoreErrors,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    const request = http.getRequest<FastifyRequest>();
    const { body, headers, internal } = problemOf(exception, this.storeErrors);
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

/** class-validator's errors as field errors, each field under `parent` when given. */
export function fieldErrorsOf(errors: ValidationError[], parent = ''): FieldError[] {
  return flatten(errors, parent);
}

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
