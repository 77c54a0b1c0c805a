import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Headers } from '@tm/contracts';
import { instanceOf, stringRule, TITLES, type ProblemBody } from '@tm/platform';

/**
 * The web console's bundle, served by the command API under /console/ (docs/http-apis.md,
 * "Console"): public files (every call the bundle makes carries the signed-in key), kept out of the
 * OpenAPI document and of the API's guards, each answer with a strict Content-Security-Policy.
 */

export const CONSOLE_PREFIX = '/console/';

/** Where the console is, as the command API's configuration says. */
export interface ConsoleSiteOptions {
  /** The folder of the built bundle (its index.html), or undefined when the console is not built. */
  dir: string | undefined;
  /** The resolver's base URL as the browser reaches it (CONSOLE_RESOLVER_URL), or undefined. */
  resolverUrl: string | undefined;
}

/** The bundle's folder when CONSOLE_DIR is unset: `console` beside the built main.js (nx build command-api puts it there). */
export function defaultConsoleDir(): string {
  return join(__dirname, 'console');
}

/** Whether `dir` holds a readable index.html. */
export function hasConsoleIndex(dir: unknown): boolean {
  if (typeof dir !== 'string' || dir === '') return false;
  try {
    const index = join(dir, 'index.html');
    accessSync(index, fsConstants.R_OK);
    return statSync(index).isFile();
  } catch {
    return false;
  }
}

/** CONSOLE_DIR: a folder holding the built console's index.html. */
export const IsConsoleDir = stringRule(
  'isConsoleDir',
  'expected a readable folder holding the built console (its index.html), such as dist/apps/command-api/console; unset: the console beside main.js, when built',
  hasConsoleIndex,
);

/** An http(s) URL without credentials, query or fragment. */
export function isBrowserBaseUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '' && !/[?#]/.test(value);
  } catch {
    return false;
  }
}

/** CONSOLE_RESOLVER_URL: the resolver's base URL as a browser reaches it. */
export const IsBrowserBaseUrl = stringRule(
  'isBrowserBaseUrl',
  'expected the http:// or https:// URL at which a browser reaches the resolver, such as http://127.0.0.1:3001 (no query or credentials)',
  isBrowserBaseUrl,
);

/** The console's Content-Security-Policy: nothing inline, nothing evaluated, calls to this origin and the resolver's. */
export function contentSecurityPolicy(resolverUrl: string | undefined): string {
  const connect = resolverUrl === undefined ? "'self'" : `'self' ${new URL(resolverUrl).origin}`;
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src ${connect}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
  ].join('; ');
}

/** The headers of every console answer. */
export function securityHeaders(resolverUrl: string | undefined): Record<string, string> {
  return {
    'content-security-policy': contentSecurityPolicy(resolverUrl),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
}

const NO_CACHE = 'no-cache';
/** Vite names the files of assets/ by their content: they never change. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/** What the bundle reads at /console/config.json: where the APIs are (null: this origin). */
export interface ConsoleRuntimeConfig {
  resolverUrl: string | null;
  commandApiUrl: string | null;
}

function notFound(request: FastifyRequest, reply: FastifyReply, detail: string): FastifyReply {
  const requestId = String(request.id);
  const body: ProblemBody = { type: 'about:blank', title: TITLES[404] ?? 'Not Found', status: 404, detail, instance: instanceOf(request.url), requestId };
  return reply.status(404).header(Headers.requestId, requestId).type('application/problem+json').send(body);
}

/**
 * The console's routes, in a Fastify context of their own (their security headers apply to nothing
 * else): GET /console redirects to /console/; the bundle's files as they are (assets/ immutable,
 * the rest no-cache); config.json; any other path under /console/ is a route of the single-page
 * app and gets index.html, but under assets/ (a missing asset is a 404, not a page). Not built:
 * every console path is a 404 problem saying so.
 */
export async function consoleSite(fastify: FastifyInstance, options: ConsoleSiteOptions): Promise<void> {
  const headers = securityHeaders(options.resolverUrl);
  fastify.addHook('onRequest', (_request, reply, done) => {
    void reply.headers(headers);
    done();
  });
  fastify.get('/console', (_request, reply) => reply.redirect(CONSOLE_PREFIX, 308));
  const { dir } = options;
  if (dir === undefined) {
    const off = (request: FastifyRequest, reply: FastifyReply) =>
      notFound(request, reply, 'the console is not built (nx build command-api builds it beside main.js, or set CONSOLE_DIR)');
    fastify.get(CONSOLE_PREFIX, off);
    fastify.get(`${CONSOLE_PREFIX}*`, off);
    return;
  }
  const runtimeConfig: ConsoleRuntimeConfig = { resolverUrl: options.resolverUrl?.replace(/\/+$/, '') ?? null, commandApiUrl: null };
  fastify.get(`${CONSOLE_PREFIX}config.json`, (_request, reply) => reply.header('cache-control', NO_CACHE).send(runtimeConfig));
  await fastify.register(fastifyStatic, {
    root: dir,
    prefix: CONSOLE_PREFIX,
    // One route per file of the bundle, read once at start; the single-page app's routes are ours below.
    wildcard: false,
    index: false,
    decorateReply: false,
    cacheControl: false,
    // The build's .br and .gz beside each file (apps/console/vite.config.mts), to browsers that accept them.
    preCompressed: true,
    globIgnore: ['config.json'],
    setHeaders: (reply, path) => void reply.header('cache-control', path.startsWith(join(dir, 'assets')) ? IMMUTABLE : NO_CACHE),
  });
  const index = readFileSync(join(dir, 'index.html'));
  const page = (_request: FastifyRequest, reply: FastifyReply) => reply.type('text/html; charset=utf-8').header('cache-control', NO_CACHE).send(index);
  fastify.get(CONSOLE_PREFIX, page);
  fastify.get(`${CONSOLE_PREFIX}*`, page);
  fastify.get(`${CONSOLE_PREFIX}assets/*`, (request, reply) => notFound(request, reply, 'no such file in the console'));
}
