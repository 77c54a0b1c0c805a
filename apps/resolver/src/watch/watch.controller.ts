import type { OutgoingHttpHeaders } from 'node:http';
import { applyDecorators, Controller, Get, Headers, Param, Query, Res, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ADMIN_TOKEN_ID, AuthGuard, CurrentPrincipal, type Principal } from '@tm/auth';
import { parseRevision, WatchHeaders } from '@tm/contracts';
import { ApiProblems, ProblemException } from '@tm/platform';
import { WatchQuery, WatchTenantParams, WatchTenantQuery } from './dto/watch.dto';
import { WatchService, type WatchFilter } from './watch.service';

const STREAM_DESCRIPTION =
  'Server-Sent Events (docs/guarantees.md, "Watch"). `event: put` / `event: delete` carry the route\'s CloudEvent with `id: <revision>`; ' +
  'without `since` the stream opens with one `put` per route (no `id`) and a bookmark with `snapshot: true`. ' +
  '`event: bookmark` (`id: R`, data `{revision, knownCurrentAt, ageMs, snapshot}`): every matching change up to R was sent, and R was the ' +
  "store's revision at knownCurrentAt; ageMs is how long before the bookmark that was established. Bookmarks come within 200 ms of the feed " +
  'passing a new revision and at least every X-Watch-Bookmark-Interval-Ms while the feed proves progress.';

/** The OpenAPI description both watch routes share. */
function ApiWatchStream(): MethodDecorator {
  return applyDecorators(
    ApiHeader({ name: 'Last-Event-ID', required: false, description: 'resume after this revision (wins over since)' }),
    ApiProduces('text/event-stream'),
    ApiOkResponse({ description: STREAM_DESCRIPTION, content: { 'text/event-stream': { schema: { type: 'string' } } } }),
    ApiProblems(400, 401, 403, 410, 412, 429, 503),
  );
}

/** `since` or Last-Event-ID (which wins, as a browser's reconnect sends both). */
function startRevision(query: WatchQuery, lastEventId: string | undefined): number | undefined {
  const raw = lastEventId !== undefined && lastEventId.trim() !== '' ? lastEventId.trim() : query.since;
  if (raw === undefined) return undefined;
  const revision = parseRevision(raw);
  if (revision === undefined) {
    const field = raw === query.since ? 'since' : 'Last-Event-ID';
    throw new ProblemException(400, 'Bad Request', `${field} must be a whole number (a revision)`, {
      code: 'validation',
      errors: [{ field, message: `${field} must be a whole number (a revision)` }],
    });
  }
  return revision;
}

@ApiTags('watch')
@ApiBearerAuth()
@UseGuards(AuthGuard)
@Controller('v1/watch')
export class WatchController {
  constructor(private readonly watch: WatchService) {}

  @Get(':tenant')
  @ApiOperation({ summary: "A tenant's routes and every change to them, as they commit (routes:read on the tenant)" })
  @ApiWatchStream()
  async tenant(
    @CurrentPrincipal() principal: Principal,
    @Param() params: WatchTenantParams,
    @Query() query: WatchTenantQuery,
    @Headers(WatchHeaders.lastEventId) lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    principal.authorize('routes:read', params.tenant);
    await this.stream(reply, principal, { tenant: params.tenant, service: query.service ?? null, health: query.health === 'true' }, startRevision(query, lastEventId));
  }

  @Get()
  @ApiOperation({ summary: 'Every route the key may read and every change to them (a tenant-bound key: its tenant)' })
  @ApiWatchStream()
  async all(
    @CurrentPrincipal() principal: Principal,
    @Query() query: WatchQuery,
    @Headers(WatchHeaders.lastEventId) lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    principal.authorize('routes:read');
    await this.stream(reply, principal, { tenant: principal.tenant, service: null, health: query.health === 'true' }, startRevision(query, lastEventId));
  }

  private async stream(reply: FastifyReply, principal: Principal, filter: WatchFilter, since: number | undefined): Promise<void> {
    // Every refusal (410, 412, 429, 503) is a problem answer before the stream begins.
    const admin = principal.id === ADMIN_TOKEN_ID;
    const start = await this.watch.prepare({ filter, owner: { keyId: admin ? null : principal.id, tenant: filter.tenant }, tenantId: principal.tenantId }, since);
    reply.hijack();
    const response = reply.raw;
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
    response.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      [WatchHeaders.bookmarkInterval]: String(this.watch.bookmarkIntervalMs),
    });
    response.flushHeaders();
    this.watch.open(response, start);
  }
}
