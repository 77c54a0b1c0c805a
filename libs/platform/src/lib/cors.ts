import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { registerDecorator, type ValidationArguments } from 'class-validator';
import { Headers, WatchHeaders } from '@tm/contracts';
import { frontDoorOf } from './front-door';

/**
 * Cross-origin calls to the HTTP APIs (docs/http-apis.md, "CORS"): only the origins of
 * CORS_ALLOWED_ORIGINS, each answered with its own origin (never `*`), without credentials (the
 * console sends a bearer key, not cookies).
 */

/** The allowed origins, as PlatformModule provides them (empty: no CORS headers at all). */
export const CORS_ALLOWED_ORIGINS = Symbol('CORS_ALLOWED_ORIGINS');

/** The methods of both APIs. */
export const CORS_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE'] as const;

/** The request headers clients send (docs/guarantees.md, "HTTP conventions", "Resolver", "Watch"). */
export const CORS_REQUEST_HEADERS = [
  'Authorization',
  'Content-Type',
  'If-Match',
  'If-None-Match',
  WatchHeaders.lastEventId,
  // The watch client (@tm/watch) asks for an uncached stream, as EventSource does.
  'Cache-Control',
  Headers.requestId,
  Headers.minRevision,
] as const;

/**
 * The response headers a browser may read beyond the CORS-safelisted ones (Cache-Control,
 * Content-Type, ...): every header of the contract that a client reads.
 */
export const CORS_EXPOSED_HEADERS = [
  Headers.requestId,
  Headers.routeRevision,
  Headers.consistencyRevision,
  Headers.cache,
  WatchHeaders.bookmarkInterval,
  'ETag',
  'Age',
  'Location',
  'Retry-After',
  'WWW-Authenticate',
] as const;

/** How long a browser may keep a preflight's answer, seconds. */
export const CORS_MAX_AGE_SECONDS = 600;

const WILDCARDS = new Set(['*', 'null']);

const EXAMPLE = 'such as http://127.0.0.1:3000,http://localhost:3000';

/** What is wrong with one entry of CORS_ALLOWED_ORIGINS (its position named, not its value), or undefined. */
function originProblem(entry: string, position: number): string | undefined {
  if (WILDCARDS.has(entry.toLowerCase())) return `expected exact origins ${EXAMPLE}, never a wildcard (* or null)`;
  const which = `entry ${position}`;
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return `${which} is not an origin: expected scheme://host[:port] ${EXAMPLE}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${which} is not an origin: expected the scheme http or https`;
  if (url.host.includes('*')) return `${which} is not an origin: expected an exact host, never a wildcard`;
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || !/^[a-z]+:\/\/[^/?#]+$/i.test(entry))
    return `${which} is not an origin: expected scheme://host[:port] without user, path, query or fragment (no trailing slash)`;
  if (url.origin !== entry)
    return `${which} is not written as a browser sends it: expected lower case, without the default port`;
  return undefined;
}

function entries(value: string): string[] {
  return value
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
}

/** The first problem of a CORS_ALLOWED_ORIGINS value, or undefined when it is a valid list. */
export function corsOriginsProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `expected exact origins separated by commas, ${EXAMPLE}`;
  const list = entries(value);
  for (const [i, entry] of list.entries()) {
    const problem = originProblem(entry, i + 1);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** The origins of a valid CORS_ALLOWED_ORIGINS value (unset: none). */
export function corsOrigins(value: string | undefined): string[] {
  return value === undefined ? [] : [...new Set(entries(value))];
}

/** CORS_ALLOWED_ORIGINS: exact origins separated by commas; never a wildcard. */
export function IsCorsOriginList(): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isCorsOriginList',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: (args: ValidationArguments) => corsOriginsProblem(args.value) ?? 'unexpected value' },
      validator: { validate: (v: unknown) => corsOriginsProblem(v) === undefined },
    });
}

/**
 * CORS for `origins` (configureApp calls it; nothing when there are none). Nest's adapter runs
 * @fastify/cors's request hook before its own and every app's hooks, so every answer carries the
 * headers: errors, 404s and the watch (which copies the reply's headers onto its stream). An origin
 * not listed gets no CORS header, and its preflight finds no route (404). The requests the front
 * door would answer before Fastify are handed to Fastify when they carry an Origin.
 */
export function enableCors(app: NestFastifyApplication, origins: readonly string[]): void {
  if (origins.length === 0) return;
  const allowed = new Set(origins);
  app.enableCors({
    origin: (origin: string | undefined, callback: (error: Error | null, allow: string | false) => void) =>
      callback(null, origin !== undefined && allowed.has(origin) ? origin : false),
    credentials: false,
    methods: [...CORS_METHODS],
    allowedHeaders: [...CORS_REQUEST_HEADERS],
    exposedHeaders: [...CORS_EXPOSED_HEADERS],
    maxAge: CORS_MAX_AGE_SECONDS,
    // An OPTIONS without Access-Control-Request-Method from an allowed origin: 204 as any preflight
    // (the strict mode's answer is a text/plain 400, not a problem).
    strictPreflight: false,
  });
  const door = frontDoorOf(app.getHttpAdapter().getInstance());
  if (door) door.declineCrossOrigin = true;
}
