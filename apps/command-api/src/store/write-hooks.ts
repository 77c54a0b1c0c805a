import type { RouteId } from '@tm/contracts';

/**
 * Points in the write path where tests force an interleaving. Production binds none (StoreModule
 * provides an empty object; tests override the provider).
 */
export interface WriteHooks {
  /**
   * After a write was decided on the route's committed state, before the statement that applies
   * it; `locked` when the decision holds the route's row lock (the fallback after lost tries).
   */
  beforeApply?(route: RouteId, locked: boolean): Promise<void>;
  /** A change set of many routes, decided with its rows locked, before the statement that applies it (route keys in lock order). */
  beforeChangeSet?(routes: string[]): Promise<void>;
}

export const WRITE_HOOKS = Symbol('WRITE_HOOKS');
