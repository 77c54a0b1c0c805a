import { withTimeout } from '@tm/platform';
import { redisMasters, type RedisClient } from './redis.module';

/** The run id in an `INFO server` reply. */
export function runIdOf(info: string): string | undefined {
  return /^run_id:([0-9a-f]+)\r?$/m.exec(info)?.[1];
}

/**
 * Watches which Redis processes take the writes: the single node, or every master of a cluster,
 * by their run ids (`INFO server`; a restart gives a new one, a promoted replica has its own).
 * `changed()` is true when a master is a process that was not a master at the previous look: a
 * restart (without persistence: empty) or a failover (to a replica that may lack the last
 * writes). Either may have lost events already applied. A master that does not answer keeps the
 * run id it had, so a short outage of a node that comes back as it was is not a change.
 */
export class RedisNodeIdentity {
  private known = new Map<string, string>();

  constructor(
    private readonly client: RedisClient,
    private readonly timeoutMs = 1_000,
  ) {}

  /** The masters' run ids now, by address (those that answered). */
  async current(): Promise<Map<string, string>> {
    const masters = await withTimeout(redisMasters(this.client), this.timeoutMs, 'Redis');
    const ids = new Map<string, string>();
    await Promise.all(
      masters.map(async ({ address, client }) => {
        const info = await withTimeout(client.info('server'), this.timeoutMs, 'Redis').catch(() => undefined);
        const id = info === undefined ? undefined : runIdOf(String(info));
        if (id !== undefined) ids.set(address, id);
      }),
    );
    return ids;
  }

  /** Looks again; true when a master is a process that was not one at the previous look (never on the first). */
  async changed(): Promise<boolean> {
    const now = await this.current();
    const seen = new Set(this.known.values());
    const changed = seen.size > 0 && [...now.values()].some((id) => !seen.has(id));
    // A master that did not answer this time keeps its last run id (it may be back unchanged).
    this.known = new Map([...this.known, ...now]);
    return changed;
  }
}
