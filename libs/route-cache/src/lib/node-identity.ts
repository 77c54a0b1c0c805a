import { withTimeout } from '@tm/platform';
import { redisMasters, type RedisClient } from './redis.module';

/** The run id in an `INFO server` reply. */
export function runIdOf(info: string): string | undefined {
  return /^run_id:([0-9a-f]+)\r?$/m.exec(info)?.[1];
}

/**
 * Which Redis processes take the writes: the single node, or every master of a cluster, by their
 * run ids (`INFO server`; a restart gives a new one, a promoted replica has its own).
 */
export class RedisNodeIdentity {
  constructor(
    private readonly client: RedisClient,
    private readonly timeoutMs = 1_000,
  ) {}

  /** The masters now, by address: each one's run id, or undefined when it did not answer. */
  async masters(): Promise<Map<string, string | undefined>> {
    const masters = await withTimeout(redisMasters(this.client), this.timeoutMs, 'Redis');
    const ids = new Map<string, string | undefined>();
    await Promise.all(
      masters.map(async ({ address, client }) => {
        const info = await withTimeout(client.info('server'), this.timeoutMs, 'Redis').catch(() => undefined);
        ids.set(address, info === undefined ? undefined : runIdOf(String(info)));
      }),
    );
    return ids;
  }
}

/** The replay marker's key: `<prefix>replay-marker` (see MARKER_CHECK_SCRIPT). */
export function replayMarkerKey(prefix: string): string {
  return `${prefix}replay-marker`;
}

/** A replay that is due: why, its token (for done()), and when the masters were last seen unchanged (ms, the Redis server's clock). */
export interface DueReplay {
  reason: 'missing' | 'new-master' | 'pending';
  token: string;
  confirmedAt: number;
}

/**
 * The replay marker (see MARKER_CHECK_SCRIPT in scripts.ts): shared by every worker replica through Redis itself,
 * so a worker that starts after a loss sees it too (a marker gone with the data, or one that names
 * other processes), not only one that was running when it happened.
 */
export class ReplayMarker {
  private readonly identity: RedisNodeIdentity;

  constructor(
    private readonly client: RedisClient,
    private readonly prefix: string,
    private readonly timeoutMs = 1_000,
  ) {
    this.identity = new RedisNodeIdentity(client, timeoutMs);
  }

  /**
   * Looks at the masters and the marker: a replay that is due (now marked pending), or undefined.
   * Rejects when Redis does not answer, or when no master does (nothing to compare).
   */
  async check(token: string): Promise<DueReplay | undefined> {
    const masters = await this.identity.masters();
    if (![...masters.values()].some((id) => id !== undefined)) throw new Error('no Redis master answered INFO');
    const current = Object.fromEntries([...masters].map(([address, id]) => [address, id ?? '']));
    const [reason, due, at] = await withTimeout(this.client.replayMarkerCheck(replayMarkerKey(this.prefix), [JSON.stringify(current), token]), this.timeoutMs, 'Redis');
    if (reason === 'ok') return undefined;
    return { reason: reason as DueReplay['reason'], token: due as string, confirmedAt: Number(at) };
  }

  /** After a replay of `token`: the marker is no longer pending, unless another loss marked it again meanwhile. */
  async done(token: string): Promise<boolean> {
    return (await withTimeout(this.client.replayMarkerDone(replayMarkerKey(this.prefix), [token]), this.timeoutMs, 'Redis')) === 1;
  }
}
