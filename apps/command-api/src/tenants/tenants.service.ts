import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { returning } from '@tm/persistence';
import { ProblemException } from '@tm/platform';
import { AuditLog } from '../audit/audit-log';
import type { ChangeOrigin } from '../store/change-origin';
import { WriteStore } from '../store/write-store';
import type { TenantResponse } from './dto/tenant.dto';

interface TenantRow {
  slug: string;
  display_name: string | null;
  dns: boolean;
  created_at: Date;
  updated_at: Date;
}

const TENANT_COLUMNS = 'slug, display_name, dns, created_at, updated_at';

/** What a PATCH may change (undefined: leave it); `displayName: null` clears it. */
export interface TenantUpdate {
  displayName?: string | null | undefined;
  dns?: boolean | undefined;
}

/** A change of one field, as the audit log records it. */
interface Changed<T> {
  from: T;
  to: T;
}

function toTenant(row: TenantRow): TenantResponse {
  return {
    slug: row.slug,
    displayName: row.display_name,
    dns: row.dns,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export function tenantNotFound(slug: string): ProblemException {
  return new ProblemException(404, 'Not Found', `tenant ${slug} does not exist`, { code: 'tenant_not_found' });
}

/** Tenants (docs/guarantees.md, "Command API"). */
@Injectable()
export class TenantsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly store: WriteStore,
    private readonly audit: AuditLog,
  ) {}

  async create(slug: string, displayName: string | undefined, dns: boolean | undefined, origin: ChangeOrigin): Promise<TenantResponse> {
    const rows = await this.dataSource.query<(TenantRow & { id: string })[]>(
      `INSERT INTO tenants (slug, display_name, dns) VALUES ($1, $2, $3)
       ON CONFLICT (slug) DO NOTHING
       RETURNING id, ${TENANT_COLUMNS}`,
      [slug, displayName ?? null, dns ?? false],
    );
    const row = rows[0];
    if (!row) throw new ProblemException(409, 'Conflict', `tenant ${slug} exists already`, { code: 'tenant_exists' });
    await this.audit.record({ action: 'tenant-created', tenant: slug, tenantId: row.id, origin, detail: { displayName: row.display_name, dns: row.dns } });
    return toTenant(row);
  }

  /**
   * Sets a tenant's display name and whether DNS answers it. Only what differs is written: then
   * `updatedAt` moves and one `tenant-updated` audit row says what changed, from what to what; a
   * PATCH that changes nothing writes nothing. No revision, no outbox row, no event: the flag is not
   * a route, and the resolver reads it again within AUTH_CACHE_TTL_MS. The row is locked (as a route
   * write locks it) between reading the values before and writing the new ones, so the audit's
   * `from` is what the update replaced, whatever runs beside it.
   */
  async update(slug: string, update: TenantUpdate, origin: ChangeOrigin): Promise<TenantResponse> {
    const { id, row, changed } = await this.dataSource.transaction('READ COMMITTED', async (tx) => {
      const [current] = await tx.query<(TenantRow & { id: string })[]>(`SELECT id, ${TENANT_COLUMNS} FROM tenants WHERE slug = $1 FOR NO KEY UPDATE`, [slug]);
      if (!current) throw tenantNotFound(slug);
      const changes: { displayName?: Changed<string | null>; dns?: Changed<boolean> } = {};
      if (update.displayName !== undefined && update.displayName !== current.display_name) changes.displayName = { from: current.display_name, to: update.displayName };
      if (update.dns !== undefined && update.dns !== current.dns) changes.dns = { from: current.dns, to: update.dns };
      if (Object.keys(changes).length === 0) return { id: current.id, row: current, changed: undefined };
      const [updated] = await returning<TenantRow>(
        tx,
        `UPDATE tenants SET display_name = $2, dns = $3, updated_at = greatest(clock_timestamp(), updated_at) WHERE id = $1 RETURNING ${TENANT_COLUMNS}`,
        [current.id, changes.displayName ? changes.displayName.to : current.display_name, changes.dns ? changes.dns.to : current.dns],
      );
      return { id: current.id, row: updated ?? current, changed: changes };
    });
    if (changed) await this.audit.record({ action: 'tenant-updated', tenant: slug, tenantId: id, origin, detail: changed });
    return toTenant(row);
  }

  /** Every tenant, or only `only` (a tenant-bound key's own). */
  async list(only: string | null): Promise<TenantResponse[]> {
    const rows = await this.dataSource.query<TenantRow[]>(
      `SELECT ${TENANT_COLUMNS} FROM tenants
        WHERE $1::text IS NULL OR slug = $1 ORDER BY slug`,
      [only],
    );
    return rows.map(toTenant);
  }

  async get(slug: string): Promise<TenantResponse> {
    const [row] = await this.dataSource.query<TenantRow[]>(
      `SELECT ${TENANT_COLUMNS} FROM tenants WHERE slug = $1`,
      [slug],
    );
    if (!row) throw tenantNotFound(slug);
    return toTenant(row);
  }

  /**
   * Deletes a tenant with its services, routes and keys, atomically, as one change set: every removed
   * route gets its own `deleted` event and version, all at one revision (WriteStore.deleteTenant: one
   * statement, so the revision clock is never locked across a round trip to this app). A concurrent PUT into the
   * tenant either lands before (and is deleted with an event) or waits and then creates the tenant
   * anew.
   */
  async delete(slug: string, origin: ChangeOrigin): Promise<void> {
    const deleted = await this.store.deleteTenant(slug, origin);
    if (deleted === undefined) throw tenantNotFound(slug);
    if (deleted.revision !== null) this.audit.changeSet(origin, deleted.revision, [slug], deleted.routes, `tenant ${slug} deleted`);
    await this.audit.record({ action: 'tenant-deleted', tenant: slug, tenantId: deleted.tenantId, origin, ...(deleted.revision === null ? {} : { revision: deleted.revision }), detail: { routes: deleted.routes } });
  }
}
