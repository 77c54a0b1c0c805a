import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Principal } from '@tm/auth';
import { ProblemException } from '@tm/platform';
import { badCursor } from '../routes/route.errors';
import type { AuditItemResponse, AuditPageResponse, AuditQuery } from './dto/audit.dto';

interface AuditRow {
  at: Date;
  action: string;
  tenant: string | null;
  by: unknown;
  request_id: string | null;
  client_address: string | null;
  revision: string | null;
  detail: unknown;
  /** The sort key: microseconds since the epoch, the kind (0 change set, 1 other), its id, its tenant. */
  us: string;
  kind: number;
  seq: string;
  tid: string;
}

type Cursor = [us: string, kind: number, seq: string, tid: string];

function encode(row: AuditRow): string {
  return Buffer.from(JSON.stringify([row.us, row.kind, row.seq, row.tid] satisfies Cursor)).toString('base64url');
}

function decode(cursor: string): Cursor {
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parts) &&
      parts.length === 4 &&
      /^-?\d{1,20}$/.test(String(parts[0])) &&
      (parts[1] === 0 || parts[1] === 1) &&
      /^\d{1,20}$/.test(String(parts[2])) &&
      typeof parts[3] === 'string' &&
      parts[3].length <= 64
    ) {
      return parts as Cursor;
    }
  } catch {
    // below
  }
  throw badCursor();
}

/**
 * Every audited event, newest first: change sets (one item per tenant a set touched, from the change
 * sets' rows; the versions history kept from before it, by nobody, are not events) and the audit log's
 * rows. A tenant is its id: `tenant=` names the tenant that has the slug now. Each side is filtered
 * (tenant, time, action, the cursor's time) and limited before the union, so a page reads at most
 * limit + 1 rows of each.
 */
const ORDER = `ORDER BY us DESC, kind DESC, seq DESC, tid DESC`;
const AFTER = `($5::bigint IS NULL OR (us, kind, seq, tid) < ($5::bigint, $6::int, $7::bigint, $8::text))`;
const EVENTS = `
  (SELECT * FROM (
     SELECT cs.at, 'change-set' AS action, t.slug AS tenant, t.tid::text AS tid, cs.by, cs.request_id, cs.client_address, cs.revision,
            jsonb_build_object('size', cs.size, 'description', cs.description) AS detail,
            (extract(epoch FROM cs.at) * 1000000)::bigint AS us, 0 AS kind, cs.revision AS seq
       FROM change_sets cs CROSS JOIN LATERAL unnest(cs.tenant_ids, cs.tenants) AS t(tid, slug)
      WHERE cs.by IS NOT NULL AND ($4::text IS NULL OR $4 = 'change-set')
        AND ($1::uuid IS NULL OR cs.tenant_ids @> ARRAY[$1::uuid])
        AND ($2::timestamptz IS NULL OR cs.at >= $2) AND ($3::timestamptz IS NULL OR cs.at < $3)
        AND ($5::bigint IS NULL OR cs.at <= to_timestamp($5::bigint / 1000000.0) + interval '1 millisecond')) e
    WHERE ($1::uuid IS NULL OR e.tid = $1::text) AND ${AFTER}
    ${ORDER} LIMIT $9)
  UNION ALL
  (SELECT * FROM (
     SELECT a.at, a.action, a.tenant, COALESCE(a.tenant_id::text, '') AS tid, a.by, a.request_id, a.client_address, a.revision, a.detail,
            (extract(epoch FROM a.at) * 1000000)::bigint AS us, 1 AS kind, a.id AS seq
       FROM audit_log a
      WHERE ($4::text IS NULL OR a.action = $4) AND ($1::uuid IS NULL OR a.tenant_id = $1)
        AND ($2::timestamptz IS NULL OR a.at >= $2) AND ($3::timestamptz IS NULL OR a.at < $3)
        AND ($5::bigint IS NULL OR a.at <= to_timestamp($5::bigint / 1000000.0) + interval '1 millisecond')) e
    WHERE ${AFTER}
    ${ORDER} LIMIT $9)
  ${ORDER} LIMIT $9`;

/** An RFC 3339 time as the database is given it (normalised: a day beyond its month rolls over as Date does); 400 when it is no time. */
function instant(field: string, value: string | undefined): string | null {
  if (value === undefined) return null;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new ProblemException(400, 'Bad Request', `${field} is not a time`, { code: 'validation', errors: [{ field, message: `${field} must be an RFC 3339 time` }] });
  }
  return new Date(ms).toISOString();
}

@Injectable()
export class AuditService {
  constructor(private readonly dataSource: DataSource) {}

  /** A page of events for `principal` (admin or audit:read; a tenant-bound key: its tenant only). */
  async list(query: AuditQuery, principal: Principal): Promise<AuditPageResponse> {
    const after = query.cursor === undefined ? undefined : decode(query.cursor);
    const tenant = query.tenant ?? principal.tenant ?? undefined;
    if (!principal.isAdmin) principal.authorize('audit:read', tenant);
    // A tenant-bound key reads its tenant by id (as it was when the key was made); a slug names the tenant that has it now.
    let tenantId: string | null = principal.tenantId;
    if (tenantId === null && tenant !== undefined) {
      const [row] = await this.dataSource.query<{ id: string }[]>('SELECT id FROM tenants WHERE slug = $1', [tenant]);
      if (!row) return { items: [], nextCursor: null };
      tenantId = row.id;
    }
    const rows = await this.dataSource.query<AuditRow[]>(EVENTS, [
      tenantId,
      instant('since', query.since),
      instant('until', query.until),
      query.action ?? null,
      after?.[0] ?? null,
      after?.[1] ?? null,
      after?.[2] ?? null,
      after?.[3] ?? null,
      query.limit + 1,
    ]);
    const items: AuditItemResponse[] = rows.slice(0, query.limit).map((r) => ({
      at: r.at.toISOString(),
      action: r.action,
      tenant: r.tenant,
      by: r.by,
      requestId: r.request_id,
      clientAddress: r.client_address,
      ...(r.revision === null ? {} : { revision: Number(r.revision) }),
      detail: r.detail,
    }));
    const last = rows[query.limit - 1];
    return { items, nextCursor: rows.length > query.limit && last ? encode(last) : null };
  }
}
