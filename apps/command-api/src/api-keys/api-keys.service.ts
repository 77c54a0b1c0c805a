import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { generateApiKey, type GeneratedKey } from '@tm/auth';
import { ProblemException } from '@tm/platform';
import type { Scope } from '@tm/contracts';
import { pgErrorKind, returning } from '@tm/persistence';
import { tenantNotFound } from '../tenants/tenants.service';
import type { ApiKeyResponse, CreatedApiKeyResponse } from './dto/api-key.dto';
import { AuditLog } from '../audit/audit-log';
import type { ChangeOrigin } from '../store/change-origin';

interface KeyRow {
  id: string;
  name: string;
  tenant: string | null;
  tenant_id?: string | null;
  scopes: Scope[];
  created_at: Date;
  revoked_at: Date | null;
}

function toKey(row: KeyRow): ApiKeyResponse {
  return {
    id: row.id,
    name: row.name,
    tenant: row.tenant,
    scopes: row.scopes,
    createdAt: row.created_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/** API keys (admin only): the secret is returned once and stored as a SHA-256 hash (G9). */
@Injectable()
export class ApiKeysService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditLog,
  ) {}

  async create(name: string, tenant: string | undefined, scopes: Scope[], origin: ChangeOrigin): Promise<CreatedApiKeyResponse> {
    if (tenant !== undefined && scopes.includes('admin')) {
      throw new ProblemException(400, 'Bad Request', 'an admin key spans every tenant; it cannot be bound to one', {
        code: 'validation',
        errors: [{ field: 'scopes', message: 'admin cannot be combined with tenant' }],
      });
    }
    const generated = generateApiKey();
    const rows = await this.insert(generated, name, tenant, scopes);
    const row = rows[0];
    if (!row) throw tenantNotFound(tenant ?? '');
    await this.audit.record({ action: 'key-created', tenant: row.tenant, tenantId: row.tenant_id, origin, detail: { keyId: row.id, name: row.name, scopes: row.scopes } });
    return { ...toKey(row), key: generated.key };
  }

  private async insert(generated: GeneratedKey, name: string, tenant: string | undefined, scopes: Scope[]): Promise<KeyRow[]> {
    try {
      return await this.dataSource.query<KeyRow[]>(
      `WITH k AS (
         INSERT INTO api_keys (lookup, secret_hash, name, tenant_id, scopes)
         SELECT $1, $2, $3, t.id, $5::text[]
           FROM (SELECT NULL) AS one LEFT JOIN tenants t ON t.slug = $4
          WHERE $4::text IS NULL OR t.id IS NOT NULL
         RETURNING id, name, tenant_id, scopes, created_at, revoked_at)
       SELECT k.id, k.name, t.slug AS tenant, k.tenant_id, k.scopes, k.created_at, k.revoked_at
         FROM k LEFT JOIN tenants t ON t.id = k.tenant_id`,
      [generated.lookup, generated.secretHash, name, tenant ?? null, scopes],
      );
    } catch (e) {
      // The tenant was deleted between the read and the insert: it does not exist.
      if (pgErrorKind(e) === 'foreign_key_violation') return [];
      throw e;
    }
  }

  async list(): Promise<ApiKeyResponse[]> {
    const rows = await this.dataSource.query<KeyRow[]>(
      `SELECT k.id, k.name, t.slug AS tenant, k.scopes, k.created_at, k.revoked_at
         FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id
        ORDER BY k.created_at, k.id`,
    );
    return rows.map(toKey);
  }

  /** Revokes a key: it stops working at once on this API (within the key cache time on the resolver). */
  async revoke(id: string, origin: ChangeOrigin): Promise<void> {
    const rows = await returning<{ id: string; name: string; tenant_id: string | null; tenant: string | null }>(
      this.dataSource,
      `UPDATE api_keys k SET revoked_at = now() WHERE k.id = $1 AND k.revoked_at IS NULL
       RETURNING k.id, k.name, k.tenant_id, (SELECT slug FROM tenants t WHERE t.id = k.tenant_id) AS tenant`,
      [id],
    );
    if (rows.length === 0) {
      throw new ProblemException(404, 'Not Found', `API key ${id} does not exist or is revoked already`, { code: 'api_key_not_found' });
    }
    const [key] = rows as [(typeof rows)[number]];
    await this.audit.record({ action: 'key-revoked', tenant: key.tenant, tenantId: key.tenant_id, origin, detail: { keyId: key.id, name: key.name } });
  }
}
