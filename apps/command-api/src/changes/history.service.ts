import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Principal } from '@tm/auth';
import { primaryEndpoint, routeKey, type RouteId, type TrafficPolicy } from '@tm/contracts';
import { ProblemException } from '@tm/platform';
import { badCursor, routeNotFound } from '../routes/route.errors';
import { toRoute } from '../routes/routes.service';
import type { RouteResponse } from '../routes/dto/route.response';
import type { ChangeAuthor } from '../store/change-origin';

/** A route's state as a version records it: its PUT body (`{url}` alone, or the policy). */
export type VersionBody = { url: string } | TrafficPolicy;

interface VersionRow {
  tenant: string;
  service: string;
  environment: string;
  revision: string;
  at: Date;
  op: 'put' | 'delete';
  body: VersionBody | null;
  created: boolean;
  created_at: Date | null;
  by: ChangeAuthor | null;
  request_id: string | null;
  description: string | null;
  size: number | null;
}

export interface HistoryItem {
  revision: number;
  at: string;
  op: 'put' | 'delete';
  route: RouteResponse | null;
  by: ChangeAuthor | null;
  requestId: string | null;
  changeSetSize: number | null;
  description: string | null;
}

export interface ChangeSetView {
  revision: number;
  at: string;
  by: ChangeAuthor | null;
  requestId: string | null;
  description: string | null;
  changes: { route: string; op: 'put' | 'delete'; body: VersionBody | null }[];
}

/** A route's state as of a revision: its PUT body, or absent (null). */
export interface StateAt {
  body: VersionBody | null;
}

/** The route a version's body makes, as the route API shows it. */
function routeOf(row: VersionRow): RouteResponse | null {
  if (row.op === 'delete' || !row.body) return null;
  const policy = 'url' in row.body ? null : row.body;
  const url = 'url' in row.body ? row.body.url : primaryEndpoint(row.body.endpoints).url;
  return toRoute({ ...row, url, policy, health_revisions: null, created_at: row.created_at ?? row.at, updated_at: row.at });
}

function cursorOf(revision: number): string {
  return Buffer.from(String(revision)).toString('base64url');
}

function revisionOfCursor(cursor: string): number {
  const revision = /^[A-Za-z0-9_-]{1,32}$/.test(cursor) ? Number(Buffer.from(cursor, 'base64url').toString('utf8')) : NaN;
  if (!Number.isSafeInteger(revision) || revision < 1) throw badCursor();
  return revision;
}

/** 410: the kept history does not reach back to the revision asked for. */
export function beforeHistory(oldestRevision: number): ProblemException {
  return new ProblemException(410, 'Gone', `the kept history does not reach that revision; the oldest kept is ${oldestRevision}`, {
    code: 'history_gone',
    members: { oldestRevision },
  });
}

const VERSION_COLUMNS = `v.tenant, v.service, v.environment, v.revision, v.at, v.op, v.body, v.created, v.created_at,
  cs.by, cs.request_id, cs.description, cs.size`;

/**
 * History (docs/changes.md): route versions and change sets, by tenant id: a tenant created again
 * under an old slug sees none of its predecessor's.
 */
@Injectable()
export class HistoryService {
  constructor(private readonly dataSource: DataSource) {}

  /** The id of the tenant that has the slug now; undefined when none has. */
  async tenantId(slug: string): Promise<string | undefined> {
    const [row] = await this.dataSource.query<{ id: string }[]>('SELECT id FROM tenants WHERE slug = $1', [slug]);
    return row?.id;
  }

  /** A page of the route's versions, newest first; 404 when the route has none (under its tenant as it is now). */
  async routeHistory(id: RouteId, limit: number, cursor: string | undefined): Promise<{ items: HistoryItem[]; nextCursor: string | null }> {
    const before = cursor === undefined ? null : revisionOfCursor(cursor);
    const tenantId = await this.tenantId(id.tenant);
    if (!tenantId) throw routeNotFound(id);
    const rows = await this.dataSource.query<VersionRow[]>(
      `SELECT ${VERSION_COLUMNS}
         FROM route_versions v LEFT JOIN change_sets cs ON cs.revision = v.revision
        WHERE v.tenant_id = $1 AND v.service = $2 AND v.environment = $3 AND ($4::bigint IS NULL OR v.revision < $4)
        ORDER BY v.revision DESC LIMIT $5`,
      [tenantId, id.service, id.environment, before, limit + 1],
    );
    if (rows.length === 0 && before === null) throw routeNotFound(id);
    const items = rows.slice(0, limit).map((r) => ({
      revision: Number(r.revision),
      at: r.at.toISOString(),
      op: r.op,
      route: routeOf(r),
      by: r.by,
      requestId: r.request_id,
      changeSetSize: r.size,
      description: r.description,
    }));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? cursorOf(last.revision) : null };
  }

  /** The change set at `revision`, limited to the routes of tenants `principal` may read; 404 when it has none of them. */
  async changeSet(revision: number, principal: Principal): Promise<ChangeSetView> {
    const rows = await this.versionsAt(revision, principal.tenantId);
    const first = rows[0];
    if (!first) {
      throw new ProblemException(404, 'Not Found', `there is no change set at revision ${revision} this key may see`, { code: 'change_set_not_found' });
    }
    return {
      revision,
      at: first.at.toISOString(),
      by: first.by,
      requestId: first.request_id,
      description: first.description,
      changes: rows.map((r) => ({ route: routeKey(r), op: r.op, body: r.op === 'put' ? r.body : null })),
    };
  }

  /**
   * The versions written at `revision` (of the tenant `tenantId` only, when given), in route-key
   * order, each with the revision of its route's latest version (`latest`).
   */
  async versionsAt(revision: number, tenantId: string | null): Promise<(VersionRow & { tenant_id: string; latest: string })[]> {
    return this.dataSource.query(
      `SELECT v.tenant_id, ${VERSION_COLUMNS},
              (SELECT max(x.revision) FROM route_versions x
                WHERE x.tenant_id = v.tenant_id AND x.service = v.service AND x.environment = v.environment) AS latest
         FROM route_versions v LEFT JOIN change_sets cs ON cs.revision = v.revision
        WHERE v.revision = $1 AND ($2::uuid IS NULL OR v.tenant_id = $2)
        ORDER BY v.tenant, v.service, v.environment`,
      [revision, tenantId],
    );
  }

  /**
   * The state before `revision` of each route of `versions` (the versions a change set wrote at it), in
   * one read: its latest version before it (absent: null); absent too when the set created it. 410
   * when the kept history of one of them does not reach back before the set.
   */
  async statesBefore(versions: readonly (VersionRow & { tenant_id: string })[], revision: number): Promise<(VersionBody | null)[]> {
    const rows = await this.dataSource.query<{ i: number; op: 'put' | 'delete' | null; body: VersionBody | null }[]>(
      `SELECT k.i, p.op, p.body
         FROM unnest($1::uuid[], $2::text[], $3::text[]) WITH ORDINALITY AS k(t, s, e, i)
         LEFT JOIN LATERAL (SELECT v.op, v.body FROM route_versions v
                             WHERE v.tenant_id = k.t AND v.service = k.s AND v.environment = k.e AND v.revision < $4
                             ORDER BY v.revision DESC LIMIT 1) p ON true
        ORDER BY k.i`,
      [versions.map((v) => v.tenant_id), versions.map((v) => v.service), versions.map((v) => v.environment), revision],
    );
    return versions.map((v, i) => {
      const row = rows[i];
      if (v.created) return null;
      if (!row?.op) throw beforeHistory(revision);
      return row.op === 'put' ? row.body : null;
    });
  }

  /**
   * The route's state as of `revision` (its latest version at or before it), under the tenant
   * `tenantId`: absent when it was deleted then, or created only after it. 410 when the kept history
   * does not reach back that far.
   */
  async stateAt(tenantId: string, id: RouteId, revision: number): Promise<StateAt> {
    const [row] = await this.dataSource.query<{ at_or_before: VersionRow | null; oldest: string | null; oldest_created: boolean | null }[]>(
      `SELECT (SELECT to_jsonb(v) FROM route_versions v
                WHERE v.tenant_id = $1 AND v.service = $2 AND v.environment = $3 AND v.revision <= $4
                ORDER BY v.revision DESC LIMIT 1) AS at_or_before,
              o.revision AS oldest, o.created AS oldest_created
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT revision, created FROM route_versions
                             WHERE tenant_id = $1 AND service = $2 AND environment = $3 ORDER BY revision LIMIT 1) o ON true`,
      [tenantId, id.service, id.environment, revision],
    );
    const version = row?.at_or_before;
    if (version) return { body: version.op === 'put' ? version.body : null };
    // Nothing at or before: absent then if it has no version at all, or its oldest created it; else history was cut.
    if (!row || row.oldest === null || row.oldest_created) return { body: null };
    throw beforeHistory(Number(row.oldest));
  }
}
