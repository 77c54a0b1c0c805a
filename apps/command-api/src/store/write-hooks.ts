import type { EntityManager } from 'typeorm';
import type { RouteId } from '@tm/contracts';

/**
 * Points inside a write transaction where tests force an interleaving or a failure. Production
 * binds none (StoreModule provides an empty object; tests override the provider).
 */
export interface WriteHooks {
  /** After the endpoint row changed, before the outbox row is written and the transaction commits. */
  afterEndpointChange?(route: RouteId, tx: EntityManager): Promise<void>;
}

export const WRITE_HOOKS = Symbol('WRITE_HOOKS');
