import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable, Optional, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { ADMIN_TOKEN_ID, ApiKeyVerifier, bearerToken } from '@tm/auth';
import { Headers as H, NAME_PATTERN, routeKey, type RouteId } from '@tm/contracts';
import { REQUEST_LIMITER, type RequestLimiter } from '@tm/limits';
import { frontDoorOf, requestIdOf } from '@tm/platform';
import { answerBody, cacheHeaders } from './resolve.controller';
import { ResolveService, type Selected } from './resolve.service';

/** The resolve route as Fastify knows it (ResolveController's), and as the HTTP metrics name it. */
export const RESOLVE_ROUTE = '/v1/resolve/:tenant/:service/:environment';
const PREFIX = '/v1/resolve/';

/** The three names of a plain resolve URL (no query, nothing encoded), or undefined. */
function routeOf(url: string | undefined): RouteId | undefined {
  if (url === undefined || !url.startsWith(PREFIX)) return undefined;
  const first = url.indexOf('/', PREFIX.length);
  if (first < 0) return undefined;
  const second = url.indexOf('/', first + 1);
  if (second < 0 || url.indexOf('/', second + 1) >= 0) return undefined;
  const tenant = url.slice(PREFIX.length, first);
  const service = url.slice(first + 1, second);
  const environment = url.slice(second + 1);
  // NAME_PATTERN allows no '?', '%' or '#': a query or an encoded name fails it and goes to Fastify.
  if (!NAME_PATTERN.test(tenant) || !NAME_PATTERN.test(service) || !NAME_PATTERN.test(environment)) return undefined;
  return { tenant, service, environment };
}

/**
 * The hit path without the framework (docs/benchmarks.md, "The hit path's budget"): the app's front
 * door (libs/platform front-door.ts) hands every request here before Fastify, and the plain case is
 * answered with what the controller would answer; everything else goes on to Fastify and the
 * controller untouched. The plain case: GET of a resolve URL with three valid names, no query and no
 * body; a bearer key already verified and trusted (ApiKeyVerifier's cache), with routes:read on the
 * tenant, under its rate limit; no X-Min-Revision; and a route this replica's memory holds with an
 * endpoint to give (ResolveService.resolveHeld). Nothing in it awaits: no Redis or database round
 * trip, no guard, pipe or interceptor. Whatever it does not answer (an unknown key, a 403, a 429, a
 * miss, a 404, sessions, strong reads, affinity) it leaves without side effects. The request id, the
 * access line and the HTTP metrics are the ones the app's hooks give every other request.
 */
@Injectable()
export class ResolveFastPath implements OnApplicationBootstrap {
  /** The answer body of a selection (one per route, health and pick: the body follows from it). */
  private readonly bodies = new WeakMap<Selected, string>();

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly verifier: ApiKeyVerifier,
    private readonly resolver: ResolveService,
    @Optional() @Inject(REQUEST_LIMITER) private readonly limiter?: RequestLimiter,
  ) {}

  onApplicationBootstrap(): void {
    const door = frontDoorOf(this.adapterHost.httpAdapter.getInstance<FastifyInstance>());
    if (!door) return;
    door.use((request, response) => {
      const started = performance.now();
      const id = this.respond(request, response);
      if (id === undefined) return false;
      door.answered({
        id,
        method: 'GET',
        url: request.url ?? '',
        route: RESOLVE_ROUTE,
        status: 200,
        elapsedMs: performance.now() - started,
      });
      return true;
    });
  }

  /** Answers the plain case and gives its request id; anything else: undefined, with nothing counted or written. */
  respond(request: IncomingMessage, response: ServerResponse): string | undefined {
    if (request.method !== 'GET') return undefined;
    const id = routeOf(request.url);
    if (!id) return undefined;
    const headersIn = request.headers;
    if (headersIn[H.minRevision] !== undefined || headersIn['transfer-encoding'] !== undefined) return undefined;
    const length = headersIn['content-length'];
    if (length !== undefined && length !== '0') return undefined;
    const token = bearerToken(headersIn.authorization);
    const principal = token === undefined ? undefined : this.verifier.trusted(token);
    if (!principal || !principal.hasScope('routes:read') || !principal.reaches(id.tenant)) return undefined;
    const held = this.resolver.resolveHeld(id, routeKey(id), principal.tenantId);
    if (!held) return undefined;
    // Counted last, once the answer is sure; a key over its limit goes to the guard, which refuses it (429).
    if (this.limiter !== undefined && principal.id !== ADMIN_TOKEN_ID && !this.limiter.tryAdmit(principal.id)) return undefined;
    this.resolver.countHeld(held);
    // A selection is made once per route, health and pick (ResolveService.select), and its body is the same every time: serialised once.
    let body = this.bodies.get(held.selected);
    if (body === undefined) {
      body = JSON.stringify(answerBody(id, held.route.revision, held.url, held.selected));
      this.bodies.set(held.selected, body);
    }
    // The headers in the order the controller's answer has them (the request id is the app's first hook's).
    const requestId = requestIdOf(request);
    const headers: Record<string, string> = { [H.requestId]: requestId };
    Object.assign(headers, cacheHeaders(held.resolution));
    headers[H.routeRevision] = String(held.route.revision);
    headers['content-type'] = 'application/json; charset=utf-8';
    headers['content-length'] = String(Buffer.byteLength(body));
    response.writeHead(200, headers);
    response.end(body);
    return requestId;
  }
}
