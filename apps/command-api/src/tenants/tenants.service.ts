import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ProblemException } from '@tm/platform';
import { AuditLog } from '../audit/audit-log';
import type { ChangeOrigin } from '../store/change-origin';
import { WriteStore } from '../store/write-store';
import type { TenantResponse } from './dto/tenant.dto';

interface TenantRow {
  slug: string;
  display_name: string | null;
  created_at: Date;
  updated_at: Date;
}

function toTenant(row: TenantRow): TenantResponse {
  return {
    slug: row.slug,
    displayName: row.display_name,
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

  async create(slug: string, displayName: string | undefined, origin: ChangeOrigin): Promise<TenantResponse> {
    const rows = await this.dataSource.query<(TenantRow & { id: string })[]>(
      `INSERT INTO tenants (slug, display_name) VALUES ($1, $2)
       ON CONFLICT (slug) DO NOTHING
       RETURNING id, slug, display_name, created_at, updated_at`,
      [slug, displayName ?? null],
    );
    const row = rows[0];
    if (!row) throw new ProblemException(409, 'Conflict', `tenant ${slug} exists already`, { code: 'tenant_exists' });
    await this.audit.record({ action: 'tenant-created', tenant: slug, tenantId: row.id, origin, detail: { displayName: row.display_name } });
    return toTenant(row);
  }

  /** Every tenant, or only `only` (a tenant-bound key's own). */
  async list(only: string | null): Promise<TenantResponse[]> {
    const rows = await this.dataSource.query<TenantRow[]>(
      `SELECT slug, display_name, created_at, updated_at FROM tenants
        WHERE $1::text IS NULL OR slug = $1 ORDER BY slug`,
      [only],
    );
    return rows.map(toTenant);
  }

  async get(slug: string): Promise<TenantResponse> {
    const [row] = await this.dataSource.query<TenantRow[]>(
      'SELECT slug, display_name, created_at, updated_at FROM tenants WHERE slug = $1',
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
