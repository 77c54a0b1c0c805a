/** What the scheduler needs of a probe target. */
export interface Schedulable {
  /** Unique among the targets. */
  readonly key: string;
  /** The tenant whose share of the slots the target's probes use. */
  readonly tenant: string;
  /** The probe interval, in milliseconds. */
  readonly intervalMs: number;
}

/**
 * Runs one probe of `target`, holding one slot until `release` is called (or the promise settles):
 * the probe itself in the slot, what follows (a verdict write) after releasing it.
 */
export type RunProbe<T extends Schedulable> = (target: T, release: () => void) => Promise<void>;

/** What the scheduler reports as it goes (metrics). */
export interface SchedulerObserver {
  /** A tenant's probes running and waiting for a slot, after every change. */
  tenant?(tenant: string, inFlight: number, waiting: number): void;
  /** A tenant has no target left and nothing running: its figures may be dropped. */
  gone?(tenant: string): void;
  /** A probe got its slot this long (ms) after it was due. */
  started?(tenant: string, waitedMs: number): void;
  /** The per-tenant share of the slots changed. */
  share?(share: number): void;
}

export interface SchedulerOptions {
  /** Slots: probes in flight at once, for every tenant together (PROBE_MAX_IN_FLIGHT). */
  maxInFlight: number;
  /** A clock in milliseconds (default performance.now). */
  now?: () => number;
  /** In [0, 1) (default Math.random): the first probe's offset and each interval's jitter. */
  random?: () => number;
  observer?: SchedulerObserver;
  /** A probe that threw (RunProbe should not: it reports its failures itself). */
  onError?: (target: Schedulable, error: unknown) => void;
}

interface Entry<T extends Schedulable> {
  target: T;
  tenant: TenantState<T>;
  timer: NodeJS.Timeout | undefined;
  /** When the probe now waiting or running became due. */
  dueAt: number;
  state: 'sleeping' | 'waiting' | 'running';
  removed: boolean;
}

interface TenantState<T extends Schedulable> {
  name: string;
  targets: number;
  inFlight: number;
  /** Due probes waiting for a slot, in the order they became due. */
  queue: Entry<T>[];
}

/**
 * When each target is probed, and which due probe gets a free slot (docs/guarantees.md: "the probers
 * share their in-flight probes fairly between tenants: one tenant's slow or hanging probes delay
 * only its own").
 *
 * - Each target is probed every interval (with 5% jitter), its first probe at a random point of the
 *   first interval. The next probe is due one interval after this one became due (not after it got
 *   a slot or ended), or at once when that has passed: a probe that waited is not followed by a
 *   burst, and a target never has more than one probe waiting or running.
 * - Each tenant has its own queue of due probes. A free slot goes to the tenants in turn
 *   (round-robin), skipping those at their share: a tenant runs at most
 *   max(1, floor(maxInFlight / tenants)) probes at once, `tenants` being those with targets.
 *
 * Why the share is counted over the tenants with targets and not only over those with a probe
 * waiting at this instant: a work-conserving share lets a tenant whose probes hang take every idle
 * slot and hold it for a whole timeout; the next due probe of another tenant then waits for one of
 * them to end. Reserving each known tenant its share means a tenant within its share always finds a
 * free slot at once, whatever another does. The cost is that a busy tenant does not borrow the idle
 * slots of others; probes are short, so a share is ample unless the tenant's own probes hang, the
 * case this contains. With more tenants than slots every share is 1 and the slots go round-robin.
 */
export class ProbeScheduler<T extends Schedulable> {
  private readonly entries = new Map<string, Entry<T>>();
  /** Tenants in the order the round-robin visits them. */
  private readonly tenants: TenantState<T>[] = [];
  private readonly byName = new Map<string, TenantState<T>>();
  /** Index in `tenants` of the tenant the next free slot is offered to first. */
  private cursor = 0;
  private running = 0;
  private withTargets = 0;
  private currentShare: number;
  private stopped = false;
  private readonly settling = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly run: RunProbe<T>,
    private readonly options: SchedulerOptions,
  ) {
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.currentShare = options.maxInFlight;
    options.observer?.share?.(this.currentShare);
  }

  /** The most probes one tenant may run at once now. */
  get share(): number {
    return this.currentShare;
  }

  /** Probes running now (all tenants). */
  get inFlight(): number {
    return this.running;
  }

  /** A tenant's probes running and waiting now. */
  tenantLoad(tenant: string): { inFlight: number; waiting: number } {
    const t = this.byName.get(tenant);
    return { inFlight: t?.inFlight ?? 0, waiting: t?.queue.length ?? 0 };
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Starts probing `target`: its first probe at a random point of its first interval. */
  add(target: T): void {
    if (this.stopped || this.entries.has(target.key)) return;
    const tenant = this.tenant(target.tenant);
    if (tenant.targets++ === 0) this.countTenants(+1);
    const entry: Entry<T> = { target, tenant, timer: undefined, dueAt: 0, state: 'sleeping', removed: false };
    this.entries.set(target.key, entry);
    this.sleep(entry, this.random() * target.intervalMs);
  }

  /** Stops probing the target (a probe of it running now ends on its own). */
  remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    entry.removed = true;
    clearTimeout(entry.timer);
    const tenant = entry.tenant;
    if (entry.state === 'waiting') tenant.queue.splice(tenant.queue.indexOf(entry), 1);
    if (--tenant.targets === 0) this.countTenants(-1);
    this.report(tenant);
    this.forget(tenant);
    // A smaller tenant count may raise the share of those waiting.
    this.pump();
  }

  /** Stops every timer and waits for the probes running (and their verdict writes) to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const key of [...this.entries.keys()]) this.remove(key);
    await Promise.allSettled([...this.settling]);
  }

  private tenant(name: string): TenantState<T> {
    let t = this.byName.get(name);
    if (!t) {
      t = { name, targets: 0, inFlight: 0, queue: [] };
      this.byName.set(name, t);
      this.tenants.push(t);
    }
    return t;
  }

  private forget(tenant: TenantState<T>): void {
    const i = this.tenants.indexOf(tenant);
    if (i < 0 || tenant.targets > 0 || tenant.inFlight > 0 || tenant.queue.length > 0) return;
    this.byName.delete(tenant.name);
    this.tenants.splice(i, 1);
    this.options.observer?.gone?.(tenant.name);
    if (this.cursor > i) this.cursor--;
    if (this.cursor >= this.tenants.length) this.cursor = 0;
  }

  private countTenants(delta: number): void {
    this.withTargets += delta;
    const share = Math.max(1, Math.floor(this.options.maxInFlight / Math.max(1, this.withTargets)));
    if (share === this.currentShare) return;
    this.currentShare = share;
    this.options.observer?.share?.(share);
  }

  private sleep(entry: Entry<T>, delayMs: number): void {
    if (entry.removed || this.stopped) return;
    entry.state = 'sleeping';
    if (delayMs <= 0) this.due(entry);
    else entry.timer = setTimeout(() => this.due(entry), delayMs);
  }

  private due(entry: Entry<T>): void {
    if (entry.removed) return;
    entry.state = 'waiting';
    entry.dueAt = this.now();
    entry.tenant.queue.push(entry);
    this.report(entry.tenant);
    this.pump();
  }

  /** Gives free slots to waiting probes, tenants in turn, each within its share. */
  private pump(): void {
    while (this.running < this.options.maxInFlight && !this.stopped) {
      const tenant = this.nextTenant();
      if (!tenant) return;
      this.start(tenant.queue.shift() as Entry<T>);
    }
  }

  /** The next tenant in turn with a probe waiting and room in its share; the turn moves past it. */
  private nextTenant(): TenantState<T> | undefined {
    const n = this.tenants.length;
    for (let i = 0; i < n; i++) {
      const index = (this.cursor + i) % n;
      const t = this.tenants[index] as TenantState<T>;
      if (t.queue.length > 0 && t.inFlight < this.currentShare) {
        this.cursor = (index + 1) % n;
        return t;
      }
    }
    return undefined;
  }

  private start(entry: Entry<T>): void {
    const tenant = entry.tenant;
    entry.state = 'running';
    tenant.inFlight++;
    this.running++;
    this.options.observer?.started?.(tenant.name, this.now() - entry.dueAt);
    this.report(tenant);
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      tenant.inFlight--;
      this.running--;
      this.report(tenant);
      this.forget(tenant);
      this.pump();
    };
    const settled = (async () => {
      try {
        await this.run(entry.target, release);
      } catch (e) {
        this.options.onError?.(entry.target, e);
      } finally {
        release();
        // One interval (with 5% jitter) after this probe became due; at once when that has passed.
        const periodMs = entry.target.intervalMs * (0.95 + this.random() * 0.1);
        this.sleep(entry, entry.dueAt + periodMs - this.now());
      }
    })();
    this.settling.add(settled);
    void settled.finally(() => this.settling.delete(settled));
  }

  private report(tenant: TenantState<T>): void {
    this.options.observer?.tenant?.(tenant.name, tenant.inFlight, tenant.queue.length);
  }
}
