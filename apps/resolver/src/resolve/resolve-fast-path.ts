import { Inject, Injectable, Optional, type OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ADMIN_TOKEN_ID, ApiKeyVerifier, bearerToken } from '@tm/auth';
import { Headers as H, NAME_PATTERN, routeKey, type RouteId } from '@tm/contracts';
import { REQUEST_LIMITER, type RequestLimiter } from '@tm/limits';
import { answerBody, cacheHeaders } from './resolve.controller';
import { ResolveService } from './resolve.service';

/** The resolve route as Fastify knows it (ResolveController's). */
export const RESOLVE_ROUTE = '/v1/resolve/:tenant/:service/:environment';

/**
 * The hit path without Nest's per-request machinery (docs/benchmarks.md, "The hit path's budget"): a
 * Fastify preHandler on the resolve route answers the plain case itself, with what the controller
 * would answer, and hands everything else to the controller untouched. The plain case: a bearer key
 * already verified and trusted (ApiKeyVerifier's cache), with routes:read on the tenant, under its
 * rate limit; three valid names; no query and no X-Min-Revision; and a route this replica's memory
 * holds with an endpoint to give (ResolveService.resolveHeld). Nothing in it awaits: no Redis or
 * database round trip, no guard, pipe or interceptor. Whatever it does not answer (an unknown key,
 * a 403, a 429, a miss, a 404, sessions, strong reads, affinity) it leaves without side effects, and
 * the controller answers as before. Request ids, logs and the HTTP metrics are Fastify hooks: they
 * see both paths alike.
 */
@Injectable()
export class ResolveFastPath implements OnApplicationBootstrap {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly verifier: ApiKeyVerifier,
    private readonly resolver: ResolveService,
    @Optional() @Inject(REQUEST_LIMITER) private readonly limiter?: RequestLimiter,
  ) {}

  onApplicationBootstrap(): void {
    const fastify = this.adapterHost.httpAdapter.getInstance<FastifyInstance>();
    fastify.addHook('preHandler', (request, reply, done) => {
      // Answered here: Fastify sends it and skips the route's handler (done is not called).
      if (request.routeOptions.url !== RESOLVE_ROUTE || !this.answer(request, reply)) done();
    });
  }

  /** Answers the plain case and says so; anything else: false, with nothing counted. */
  answer(request: FastifyRequest, reply: FastifyReply): boolean {
    const headersIn = request.headers;
    if (headersIn[H.minRevision] !== undefined) return false;
    const query = request.query as Record<string, unknown> | undefined;
    if (query) for (const _ in query) return false;
    const token = bearerToken(headersIn.authorization);
    const principal = token === undefined ? undefined : this.verifier.trusted(token);
    if (!principal) return false;
    const { tenant, service, environment } = request.params as Partial<RouteId>;
    if (typeof tenant !== 'string' || typeof service !== 'string' || typeof environment !== 'string') return false;
    if (!NAME_PATTERN.test(tenant) || !NAME_PATTERN.test(service) || !NAME_PATTERN.test(environment)) return false;
    if (!principal.hasScope('routes:read') || !principal.reaches(tenant)) return false;
    const id: RouteId = { tenant, service, environment };
    const held = this.resolver.resolveHeld(id, routeKey(id), principal.tenantId);
    if (!held) return false;
    // Counted last, once the answer is sure; a key over its limit goes to the guard, which refuses it (429).
    if (this.limiter !== undefined && principal.id !== ADMIN_TOKEN_ID && !this.limiter.tryAdmit(principal.id)) return false;
    this.resolver.countHeld(held);
    const headers = cacheHeaders(held.resolution);
    headers[H.routeRevision] = String(held.route.revision);
    void reply.headers(headers).send(answerBody(id, held.route.revision, held.url, held.selected));
    return true;
  }
}
