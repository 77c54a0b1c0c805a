import { Injectable, Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { ChangeOrigin } from '../store/change-origin';

/** What the audit log records besides change sets (those are the change_sets table's rows). */
export type AuditAction = 'tenant-created' | 'tenant-deleted' | 'tenant-updated' | 'key-created' | 'key-revoked' | 'write-refused';

export const AUDIT_ACTIONS = ['change-set', 'tenant-created', 'tenant-deleted', 'tenant-updated', 'key-created', 'key-revoked', 'write-refused'] as const;

export interface AuditEntry {
  action: AuditAction;
  /** The tenant's slug, when the event is about one. */
  tenant?: string | null;
  /** The tenant's id; without it, the id of the tenant that has the slug now. */
  tenantId?: string | null;
  origin: ChangeOrigin;
  revision?: number;
  /** Our own words and values (never a secret, never unbounded input). */
  detail: Record<string, unknown>;
}

/**
 * The audit log (docs/changes.md, "Audit"): a row in PostgreSQL and a log line marked
 * `"audit": true` per event. Change sets are logged here as lines; their rows are the change sets'.
 * A row that cannot be written (the database went away after the action) is logged as an error
 * with the event: the action stands, and the log line still records it.
 */
@Injectable()
export class AuditLog {
  private readonly logger = new Logger('Audit');

  constructor(private readonly dataSource: DataSource) {}

  async record(entry: AuditEntry): Promise<void> {
    const line = { audit: true, action: entry.action, tenant: entry.tenant ?? null, by: entry.origin.by, requestId: entry.origin.requestId, clientAddress: entry.origin.clientAddress, revision: entry.revision, detail: entry.detail };
    this.logger.log(line, `audit: ${entry.action}`);
    try {
      await this.dataSource.query(
        `INSERT INTO audit_log (action, tenant_id, tenant, by, request_id, client_address, revision, detail)
         VALUES ($1, COALESCE($2::uuid, (SELECT id FROM tenants WHERE slug = $3)), $3, $4::jsonb, $5, $6, $7, $8::jsonb)`,
        [
          entry.action,
          entry.tenantId ?? null,
          entry.tenant ?? null,
          JSON.stringify(entry.origin.by),
          entry.origin.requestId,
          entry.origin.clientAddress,
          entry.revision ?? null,
          JSON.stringify(entry.detail),
        ],
      );
    } catch (e) {
      this.logger.error({ ...line, err: e instanceof Error ? e.message : String(e) }, `audit: the ${entry.action} row could not be written`);
    }
  }

  /** The log line of a committed change set (its row is the change set's own). */
  changeSet(origin: ChangeOrigin, revision: number, tenants: string[], size: number, description?: string): void {
    this.logger.log(
      { audit: true, action: 'change-set', tenants, by: origin.by, requestId: origin.requestId, clientAddress: origin.clientAddress, revision, detail: { size, description: description ?? null } },
      'audit: change-set',
    );
  }
}
