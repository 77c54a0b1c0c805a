import type { Scope } from '@tm/contracts';

/** What a verified stored key's Principal is made of, and when the database last vouched for it. */
export interface RememberedPrincipal {
  id: string;
  name: string;
  tenant: string | null;
  scopes: Scope[];
  /** Epoch ms of the verification against PostgreSQL. */
  verifiedAt: number;
}

/**
 * Where verified stored keys are kept so that they still authenticate while PostgreSQL is unreachable
 * (docs/guarantees.md, "Resolver": every key that any replica verified while the database was up, a replica
 * started during the outage included). Entries are keyed by `tokenDigest(token)`, never the token,
 * written after each verification with an expiry of the grace, deleted when the database says the key
 * is unknown or revoked, and read only while the database is unreachable.
 */
export abstract class OutageCredentials {
  abstract remember(digest: string, principal: RememberedPrincipal, ttlMs: number): Promise<void>;
  abstract recall(digest: string): Promise<RememberedPrincipal | undefined>;
  abstract forget(digest: string): Promise<void>;
}
