import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SCOPES, type Scope } from '@tm/contracts';
import { hashesEqual, hashSecret, parseApiKey } from './keys';
import { Principal } from './principal';

export class AuthOptions {
  /** TM_ADMIN_TOKEN: a token that acts as an admin key. */
  adminToken?: string;
  /**
   * How long a verified key is trusted without asking the database (0: ask every time). A key
   * revoked or deleted meanwhile keeps working at most this long (plus one database round trip).
   */
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
  /**
   * Verified tokens (only those: an unknown token is never cached), until when they are trusted.
   * A request whose token is here is answered by one Map lookup, without hashing.
   */
  private readonly cache = new Map<string, { principal: Principal; until: number }>();
  /** Database verifications under way, by token, when cached: concurrent requests with one key share one query. */
  private readonly inFlight = new Map<string, Promise<Principal | undefined>>();
  /** SHA-256 of TM_ADMIN_TOKEN, computed once; the offered token's hash is compared to it. */
  private readonly adminHash: Buffer | undefined;
  private readonly admin = new Principal('admin-token', 'TM_ADMIN_TOKEN', null, new Set<Scope>(['admin']));

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: AuthOptions,
  ) {
    this.adminHash = options.adminToken === undefined ? undefined : hashSecret(options.adminToken);
  }

  async verify(token: string): Promise<Principal | undefined> {
    const cached = this.cache.get(token);
    if (cached && cached.until > Date.now()) return cached.principal;
    // Constant time whatever the lengths: both sides are SHA-256 digests.
    if (this.adminHash !== undefined && hashesEqual(hashSecret(token), this.adminHash)) {
      // The admin token is configuration, never revoked while the process runs.
      if (this.options.cacheTtlMs > 0) this.cache.set(token, { principal: this.admin, until: Infinity });
      return this.admin;
    }
    const parsed = parseApiKey(token);
    if (!parsed) return undefined;
    // Without a cache, every request asks the database itself: a revocation holds from the next one.
    if (this.options.cacheTtlMs <= 0) return this.lookUp(token, parsed.lookup, parsed.secret);
    let verifying = this.inFlight.get(token);
    if (!verifying) {
      verifying = this.lookUp(token, parsed.lookup, parsed.secret).finally(() => this.inFlight.delete(token));
      this.inFlight.set(token, verifying);
    }
    return verifying;
  }

  private async lookUp(token: string, lookup: string, secret: string): Promise<Principal | undefined> {
    const rows = await this.dataSource.query<KeyRow[]>(
      `SELECT k.id, k.name, k.secret_hash, k.scopes, k.revoked_at, t.slug AS tenant
         FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id
        WHERE k.lookup = $1`,
      [lookup],
    );
    const row = rows[0];
    // Hash even when there is no such key, so that timing does not tell which lookups exist.
    const offered = hashSecret(secret);
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
