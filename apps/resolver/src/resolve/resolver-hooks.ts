import type { RouteId } from '@tm/contracts';
import type { RouteSnapshot } from '@tm/persistence';

/** Points in the read path where tests force an interleaving. Production binds none. */
export interface ResolverHooks {
  /** After the database read, before its fill is offered to the cache (the stale-set race). */
  beforeFill?(id: RouteId, snapshot: RouteSnapshot): Promise<void>;
  /** Every database read (tests count them: single flight). */
  onDatabaseRead?(id: RouteId): void;
  /** A database read has its snapshot, before the reads that joined it get it (the strong-read join race). */
  afterDatabaseRead?(id: RouteId, snapshot: RouteSnapshot): Promise<void>;
}

export const RESOLVER_HOOKS = Symbol('RESOLVER_HOOKS');
