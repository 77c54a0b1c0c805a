import type { Scope } from '@tm/contracts';

/** What a verified stored key's Principal is made of, and when the database last vouched for it. */
export interface RememberedPrincipal {
  id: string;
  name: string;
  tenant: string | null;
  /** The bound tenant's id (null with `tenant`). */
  tenantId: string | null;
  scopes: Scope[];
  /** Epoch ms of the verification against PostgreSQL. */
  verifiedAt: number;
}

/**
 * Where verified stored keys are kept so that they still authenticate while PostgreSQL is unreachable
 * (docs/guarantees.md, "Resolver": every key that any replica verified while the database was up, a replica
 * started during the outage included). Entries are keyed by `tokenDigest(token)`, never the token,
 * written after each verification with an expiry of the grace, deleted when the database says the key
 * is unknown or revoked, and read only while the database is unreachable. What a recalled key may do is
 * `outageScopes` of what it could do: never more.
 */
export abstract class OutageCredentials {
  abstract remember(digest: string, principal: RememberedPrincipal, ttlMs: number): Promise<void>;
  abstract recall(digest: string): Promise<RememberedPrincipal | undefined>;
  abstract forget(digest: string): Promise<void>;
}

/**
 * What a key recalled during an outage may do: read routes (the one thing the read tier serves), and
 * only if the key could. A key revoked before the outage and not presented since is not known to be
 * revoked; this bounds what it gets meanwhile to less than or what it had, on the tenant (by id) it had.
 */
export function outageScopes(scopes: readonly Scope[]): Scope[] {
  return scopes.some((s) => s === 'routes:read' || s === 'routes:write' || s === 'admin') ? ['routes:read'] : [];
}
