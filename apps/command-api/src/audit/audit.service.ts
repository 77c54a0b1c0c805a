import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Principal } from '@tm/auth';
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
 * rows. A tenant is its id: `tenant=` names the tenant that has the slug now.
 */
const EVENTS = `
  SELECT * FROM (
    SELECT cs.at, 'change-set' AS action, t.slug AS tenant, t.tid, cs.by, cs.request_id, cs.client_address, cs.revision,
           jsonb_build_object('size', cs.size, 'description', cs.description) AS detail,
           (extract(epoch FROM cs.at) * 1000000)::bigint::text AS us, 0 AS kind, cs.revision::text AS seq
      FROM change_sets cs CROSS JOIN LATERAL unnest(cs.tenant_ids, cs.tenants) AS t(tid, slug)
     WHERE cs.by IS NOT NULL
    UNION ALL
    SELECT a.at, a.action, a.tenant, a.tenant_id, a.by, a.request_id, a.client_address, a.revision, a.detail,
           (extract(epoch FROM a.at) * 1000000)::bigint::text, 1, a.id::text
      FROM audit_log a) e
  WHERE ($1::uuid IS NULL OR e.tid = $1)
    AND ($2::timestamptz IS NULL OR e.at >= $2)
    AND ($3::timestamptz IS NULL OR e.at < $3)
    AND ($4::text IS NULL OR e.action = $4)
    AND ($5::bigint IS NULL OR (e.us::bigint, e.kind, e.seq::bigint, COALESCE(e.tid::text, '')) < ($5::bigint, $6::int, $7::bigint, $8::text))
  ORDER BY e.us::bigint DESC, e.kind DESC, e.seq::bigint DESC, COALESCE(e.tid::text, '') DESC
  LIMIT $9`;

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
      query.since ?? null,
      query.until ?? null,
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
