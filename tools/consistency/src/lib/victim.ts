import { createKey, revokeKey } from './api-keys';
import type { Op } from './history';
import { Watcher } from './watchers';
import { random, readOnce } from './workload';

export interface VictimOptions {
  commandApi: string;
  resolvers: () => string[];
  /** The tenant its key is bound to, and that tenant's route keys (what it reads). */
  tenant: string;
  keys: string[];
  /** Its client number in the history (one past every other client's). */
  client: number;
  thinkMs: number;
  timeoutMs: number;
  seed: number;
}

/** One key of the victim: its generation's name (the `credential` of its operations and watcher), id and secret. */
interface Generation {
  credential: string;
  id: string;
  token: string;
  watcher: Watcher;
}

/**
 * The subject of the `revoke` fault: a stored `routes:read` key bound to one tenant, in use all the
 * time by a client of its own (default-mode reads through each resolver replica in turn, recorded in
 * the history with the key's generation as `credential`) and by a watch stream of its tenant.
 * revoke() revokes the current key through the command API; renew() creates the next one and moves
 * the client and a new watcher to it. The watcher of a revoked key keeps trying with it until the run
 * ends: each of its attempts must be refused (checked by rule R).
 */
export class Victim {
  private readonly generations: Generation[] = [];
  private stopped = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly options: VictimOptions,
    private readonly history: Op[],
  ) {}

  /** Creates the first key and starts reading and watching with it. */
  async start(): Promise<void> {
    await this.renew();
    this.running = this.read();
  }

  private get current(): Generation {
    const g = this.generations.at(-1);
    if (!g) throw new Error('the victim has no key yet');
    return g;
  }

  /** The current key's watcher (it must catch up after the drain, like every watcher of a valid key). */
  get currentWatcher(): Watcher {
    return this.current.watcher;
  }

  /** Every watcher it started, those of revoked keys included. */
  get watchers(): Watcher[] {
    return this.generations.map((g) => g.watcher);
  }

  /** The revoked keys so far: every generation but the current one. */
  get revoked(): { credential: string; token: string }[] {
    return this.generations.slice(0, -1).map(({ credential, token }) => ({ credential, token }));
  }

  get token(): string {
    return this.current.token;
  }

  /** inject(revoke): the current key revoked; which, and when the DELETE's 2xx answer arrived. */
  async revoke(): Promise<{ credential: string; revokedAt: number }> {
    const { credential, id } = this.current;
    return { credential, revokedAt: await revokeKey(this.options.commandApi, id) };
  }

  /** heal(revoke): a fresh key; the client's next request and a new watcher use it. */
  async renew(): Promise<void> {
    const { commandApi, tenant, resolvers } = this.options;
    const credential = `victim-${this.generations.length + 1}`;
    const { id, key } = await createKey(commandApi, `consistency-${credential}`, tenant, ['routes:read']);
    const watcher = new Watcher({ name: `${credential} /v1/watch/${tenant}`, path: `/v1/watch/${tenant}`, token: key, tenant, credential }, resolvers);
    watcher.start();
    this.generations.push({ credential, id, token: key, watcher });
  }

  /** Stops the reads (the one in flight finishes); the watchers go on until stop(). */
  async stopReading(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  async stop(): Promise<void> {
    await this.stopReading();
    await Promise.all(this.watchers.map((w) => w.stop()));
  }

  private async read(): Promise<void> {
    const { client, keys, thinkMs, timeoutMs, seed } = this.options;
    const rand = random(seed * 104_729 + client);
    for (let i = 0; !this.stopped; i++) {
      const { credential, token } = this.current;
      const resolvers = this.options.resolvers();
      const resolver = i % resolvers.length;
      const key = keys[Math.floor(rand() * keys.length)] as string;
      const op = await readOnce(token, timeoutMs, { client, key, mode: 'default', resolver, base: resolvers[resolver] as string, minRevision: undefined });
      op.credential = credential;
      op.id = this.history.length;
      this.history.push(op);
      if (thinkMs > 0) await new Promise((r) => setTimeout(r, rand() * thinkMs));
    }
  }
}
