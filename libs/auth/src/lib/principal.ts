import { ProblemException } from '@tm/platform';
import type { Scope } from '@tm/contracts';

/** Who a request acts as: a stored API key, or the admin token. */
export class Principal {
  constructor(
    /** The key's id, or `admin-token`. */
    readonly id: string,
    readonly name: string,
    /** The tenant slug the key is bound to; null for a key that spans tenants. */
    readonly tenant: string | null,
    readonly scopes: ReadonlySet<Scope>,
    /**
     * The id of the tenant the key is bound to (null with `tenant`). A tenant is its id: one deleted and
     * created again under the same slug is another tenant, which this key does not reach.
     */
    readonly tenantId: string | null,
  ) {}

  get isAdmin(): boolean {
    return this.scopes.has('admin');
  }

  /** `admin` can do everything; `routes:write` includes `routes:read`. */
  hasScope(scope: Scope): boolean {
    if (this.isAdmin) return true;
    if (scope === 'routes:read') return this.scopes.has('routes:read') || this.scopes.has('routes:write');
    return this.scopes.has(scope);
  }

  /** May act on `tenant` (a key bound to another tenant may not). */
  reaches(tenant: string): boolean {
    return this.tenant === null || this.tenant === tenant;
  }

  /** Throws 403 unless the principal has `scope` and reaches `tenant` (when given). */
  authorize(scope: Scope, tenant?: string): void {
    if (!this.hasScope(scope)) {
      throw new ProblemException(403, 'Forbidden', `this key lacks the ${scope} scope`, { code: 'forbidden' });
    }
    if (tenant !== undefined && !this.reaches(tenant)) {
      throw new ProblemException(403, 'Forbidden', `this key cannot act on tenant ${tenant}`, { code: 'forbidden' });
    }
  }
}

/**
 * The answer to a tenant-bound key whose tenant is gone: deleting a tenant deletes its keys, and a
 * tenant created again under the slug is another tenant (docs/guarantees.md, "Tenancy"). Given when a
 * key still trusted from the cache meets the slug under another tenant's id.
 */
export function tenantGone(tenant: string): ProblemException {
  return new ProblemException(401, 'Unauthorized', `the key is unknown or revoked (its tenant ${tenant} was deleted)`, {
    headers: { 'WWW-Authenticate': 'Bearer realm="traffic-manager"' },
    code: 'unauthorized',
  });
}
