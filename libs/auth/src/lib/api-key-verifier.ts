import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SCOPES, type Scope } from '@tm/contracts';
import { hashesEqual, hashSecret, parseApiKey, secretsEqual } from './keys';
import { Principal } from './principal';

export class AuthOptions {
  /** TM_ADMIN_TOKEN: a token that acts as an admin key. */
  adminToken?: string;
  /** How long a verified key is trusted without asking the database (0: ask every time). */
  cacheTtlMs = 0;
}

interface KeyRow {
  id: string;
  name: string;
  secret_hash: Buffer;
  scopes: string[];
  revoked_at: Date | null;
  tenant: string | null;
}

/** Turns a bearer token into a Principal: the admin token, or an unrevoked stored key. */
@Injectable()
export class ApiKeyVerifier {
  private readonly cache = new Map<string, { principal: Principal; until: number }>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: AuthOptions,
  ) {}

  async verify(token: string): Promise<Principal | undefined> {
    const adminToken = this.options.adminToken;
    if (adminToken !== undefined && secretsEqual(token, adminToken)) {
      return new Principal('admin-token', 'TM_ADMIN_TOKEN', null, new Set<Scope>(['admin']));
    }
    const parsed = parseApiKey(token);
    if (!parsed) return undefined;
    const cached = this.cache.get(token);
    if (cached && cached.until > Date.now()) return cached.principal;
    const rows = await this.dataSource.query<KeyRow[]>(
      `SELECT k.id, k.name, k.secret_hash, k.scopes, k.revoked_at, t.slug AS tenant
         FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id
        WHERE k.lookup = $1`,
      [parsed.lookup],
    );
    const row = rows[0];
    // Hash even when there is no such key, so that timing does not tell which lookups exist.
    const offered = hashSecret(parsed.secret);
    if (!row || !hashesEqual(offered, row.secret_hash) || row.revoked_at !== null) {
      this.cache.delete(token);
      return undefined;
    }
    const scopes = new Set(row.scopes.filter((s): s is Scope => (SCOPES as readonly string[]).includes(s)));
    const principal = new Principal(row.id, row.name, row.tenant, scopes);
    if (this.options.cacheTtlMs > 0) this.cache.set(token, { principal, until: Date.now() + this.options.cacheTtlMs });
    return principal;
  }
}
