import { Injectable, Logger, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SCOPES, type Scope } from '@tm/contracts';
import { databaseFailure } from '@tm/persistence';
import { OverloadedException, UnavailableException } from '@tm/platform';
import { hashesEqual, hashSecret, parseApiKey, tokenDigest } from './keys';
import { OutageCredentials, outageScopes, type RememberedPrincipal } from './outage-credentials';
import { Principal } from './principal';

/** The id of the principal TM_ADMIN_TOKEN gives (stored keys have UUIDs). */
export const ADMIN_TOKEN_ID = 'admin-token';

export class AuthOptions {
  /** TM_ADMIN_TOKEN: a token that acts as an admin key. */
  adminToken?: string;
  /**
   * How long a verified key is trusted without asking the database (0: ask every time). A key
   * revoked or deleted meanwhile keeps working at most this long (plus one database round trip).
   */
  cacheTtlMs = 0;
  /**
   * AUTH_STALE_GRACE_SECONDS, in ms: while PostgreSQL is unreachable, a stored key verified less than
   * this long ago (by any replica sharing the OutageCredentials store) still authenticates. 0, or no
   * store: a stored key whose cache entry expired gets 503 during an outage. Never 401: the key's
   * validity cannot be checked.
   */
  staleGraceMs = 0;
}

interface KeyRow {
  id: string;
  name: string;
  secret_hash: Buffer;
  scopes: string[];
  revoked_at: Date | null;
  tenant: string | null;
  tenant_id: string | null;
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
  private readonly admin = new Principal(ADMIN_TOKEN_ID, 'TM_ADMIN_TOKEN', null, new Set<Scope>(['admin']), null);
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: AuthOptions,
    /** Where verified keys are remembered for an outage of PostgreSQL (the resolver's Redis); none in the command API. */
    @Optional() private readonly outage?: OutageCredentials,
  ) {
    this.adminHash = options.adminToken === undefined ? undefined : hashSecret(options.adminToken);
  }

  /**
   * The principal of a token verified and still trusted (cached), without asking anything: undefined
   * when verify() would have to hash, ask the database or refuse.
   */
  trusted(token: string): Principal | undefined {
    const cached = this.cache.get(token);
    return cached && cached.until > Date.now() ? cached.principal : undefined;
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
    let rows: KeyRow[];
    try {
      rows = await this.dataSource.query<KeyRow[]>(
        `SELECT k.id, k.name, k.secret_hash, k.scopes, k.revoked_at, t.slug AS tenant, k.tenant_id
           FROM api_keys k LEFT JOIN tenants t ON t.id = k.tenant_id
          WHERE k.lookup = $1`,
        [lookup],
      );
    } catch (e) {
      const failure = databaseFailure(this.dataSource, e);
      if (failure === 'overloaded') throw new OverloadedException('PostgreSQL');
      if (failure === 'unreachable') return this.recall(token);
      throw e;
    }
    const row = rows[0];
    // Hash even when there is no such key, so that timing does not tell which lookups exist.
    const offered = hashSecret(secret);
    if (!row || !hashesEqual(offered, row.secret_hash) || row.revoked_at !== null) {
      this.cache.delete(token);
      // A revoked key must not come back during an outage: its remembered principal goes too.
      const store = this.store();
      if (store) this.inBackground('forget', store.forget(tokenDigest(token)));
      return undefined;
    }
    const scopes = row.scopes.filter((s): s is Scope => (SCOPES as readonly string[]).includes(s));
    const principal = new Principal(row.id, row.name, row.tenant, new Set(scopes), row.tenant_id);
    const now = Date.now();
    if (this.options.cacheTtlMs > 0) this.cache.set(token, { principal, until: now + this.options.cacheTtlMs });
    const store = this.store();
    if (store) {
      const remembered: RememberedPrincipal = { id: row.id, name: row.name, tenant: row.tenant, tenantId: row.tenant_id, scopes, verifiedAt: now };
      this.inBackground('remember', store.remember(tokenDigest(token), remembered, this.options.staleGraceMs));
    }
    return principal;
  }

  /**
   * Of these stored keys' ids, those that are still valid now (not revoked, not deleted: a tenant's
   * deletion deletes its keys). Tokens of the others are dropped from the cache at once, so their next
   * request is refused without waiting for the TTL. Rejects when the database cannot say (an outage):
   * the caller keeps what it has.
   */
  async stillValid(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.dataSource.query<{ id: string }[]>('SELECT id FROM api_keys WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL', [ids]);
    const valid = new Set(rows.map((r) => r.id));
    const gone = new Set(ids.filter((id) => !valid.has(id)));
    if (gone.size > 0) for (const [token, entry] of this.cache) if (gone.has(entry.principal.id)) this.cache.delete(token);
    return valid;
  }

  /**
   * PostgreSQL is unreachable: the principal a replica verified less than the grace ago, or 503.
   * Never undefined (401): whether the key is valid cannot be told now.
   */
  private async recall(token: string): Promise<Principal> {
    const store = this.store();
    if (!store) throw new UnavailableException('PostgreSQL');
    let remembered: RememberedPrincipal | undefined;
    try {
      remembered = await store.recall(tokenDigest(token));
    } catch (e) {
      this.logger.debug(`outage credentials: ${e instanceof Error ? e.message : String(e)}`);
    }
    const now = Date.now();
    const until = remembered === undefined ? 0 : remembered.verifiedAt + this.options.staleGraceMs;
    if (remembered === undefined || until <= now) throw new UnavailableException('PostgreSQL');
    // Never more than the key had, on the tenant (by id) it had: see outageScopes.
    const principal = new Principal(remembered.id, remembered.name, remembered.tenant, new Set(outageScopes(remembered.scopes)), remembered.tenantId);
    // Trusted from memory as a verified key is, never past the grace: the database is asked again then.
    if (this.options.cacheTtlMs > 0) this.cache.set(token, { principal, until: Math.min(until, now + this.options.cacheTtlMs) });
    return principal;
  }

  /** The outage store, when there is one and a grace to use it for. */
  private store(): OutageCredentials | undefined {
    return this.options.staleGraceMs > 0 ? this.outage : undefined;
  }

  /** The store is written off the request's path: a slow or failing Redis must not delay an answer. */
  private inBackground(what: string, work: Promise<void>): void {
    work.catch((e: unknown) => this.logger.debug(`outage credentials (${what}): ${e instanceof Error ? e.message : String(e)}`));
  }
}
