import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Histogram, type Registry } from 'prom-client';
import { METRICS_REGISTRY, ProblemException } from '@tm/platform';
import { CommandApiConfig } from '../config';
import { DEFAULT_WAIT_TIMEOUT_MS, type WaitQuery } from './dto/wait.query';
import { PropagationFacts } from './propagation.facts';
import { decideStatus, type PropagationStatus } from './propagation.status';

/** While anyone waits, the one poller checks this often. */
export const PROPAGATION_POLL_MS = 15;

export function revisionAhead(revision: number, current: number): ProblemException {
  return new ProblemException(412, 'Precondition Failed', `the store is at revision ${current}, before ${revision}`, { code: 'revision_ahead' });
}

type Decided = { revision: number } & ({ kind: 'status'; status: PropagationStatus } | { kind: 'ahead'; current: number });

interface Waiter {
  revision: number;
  started: number;
  /** The last status the poller decided for it. */
  last: PropagationStatus | undefined;
  timer: NodeJS.Timeout;
  settle(status: PropagationStatus, outcome: 'in-sync' | 'timeout'): void;
}

/**
 * Whether a revision has reached every consumer (docs/guarantees.md, "Propagation"): `status(R)`
 * for GET /v1/revisions/{R}, `awaitInSync(R, ms)` for a write's `?wait=in-sync`. Waiters share one
 * poller, which runs every PROPAGATION_POLL_MS while anyone waits and asks the database, Kafka and
 * Redis once per round for all of them.
 */
@Injectable()
export class PropagationService implements OnApplicationShutdown {
  private readonly logger = new Logger('Propagation');
  private readonly waiters = new Set<Waiter>();
  private poller: Promise<void> | undefined;
  private stopping = false;
  private readonly waitSeconds: Histogram<'outcome'>;

  constructor(
    private readonly config: CommandApiConfig,
    private readonly facts: PropagationFacts,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.waitSeconds = new Histogram({
      name: 'tm_propagation_wait_seconds',
      help: 'Writes with ?wait=in-sync: time from the wait starting to the revision in sync (outcome in-sync), or to the timeout (outcome timeout)',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
  }

  /** The status of `revision`; 412 beyond the store's revision. A database failure rejects (503 through the filter). */
  async status(revision: number): Promise<PropagationStatus> {
    const [status] = await this.decide([revision]);
    if (!status) throw new Error('the store revision row is missing');
    if (status.kind === 'ahead') throw revisionAhead(revision, status.current);
    return status.status;
  }

  /**
   * Resolves with the status once `revision` (committed: a write's own) is in sync, or after
   * `timeoutMs` with the last status seen (pending). Never rejects: the write it follows is committed
   * whatever happens here; while the database cannot be read, the answer is a pending status with
   * what is not known counted as not done.
   */
  awaitInSync(revision: number, timeoutMs: number): Promise<PropagationStatus> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        revision,
        started: Date.now(),
        last: undefined,
        timer: setTimeout(() => waiter.settle(waiter.last ?? unknownStatus(revision), 'timeout'), timeoutMs),
        settle: (status, outcome) => {
          if (!this.waiters.delete(waiter)) return;
          clearTimeout(waiter.timer);
          this.waitSeconds.observe({ outcome }, (Date.now() - waiter.started) / 1000);
          resolve(status);
        },
      };
      this.waiters.add(waiter);
      this.startPoller();
    });
  }

  /**
   * A write's `?wait=in-sync` (WaitQuery): undefined when the write did not ask, else the status of
   * `revision` once in sync or after the wait's timeout (see awaitInSync).
   */
  async afterWrite(query: WaitQuery, revision: number): Promise<PropagationStatus | undefined> {
    if (query.wait !== 'in-sync') return undefined;
    return this.awaitInSync(revision, query.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS);
  }

  /** A write's answer (with its `revision`), with `propagation` added when the write asked to wait (see afterWrite). */
  async withPropagation<T extends { revision: number }>(query: WaitQuery, answer: T): Promise<T & { propagation?: PropagationStatus }> {
    const propagation = await this.afterWrite(query, answer.revision);
    return propagation ? { ...answer, propagation } : answer;
  }

  /** Waiters get their last status at once: the writes answer, the app stops. */
  onApplicationShutdown(): void {
    this.stopping = true;
    for (const w of [...this.waiters]) w.settle(w.last ?? unknownStatus(w.revision), 'timeout');
  }

  private startPoller(): void {
    if (this.poller || this.stopping) return;
    this.poller = this.poll().finally(() => {
      this.poller = undefined;
      // A waiter that came while the loop was ending.
      if (this.waiters.size > 0) this.startPoller();
    });
  }

  private async poll(): Promise<void> {
    let failing = false;
    while (this.waiters.size > 0 && !this.stopping) {
      const waiting = [...this.waiters];
      try {
        const decided = new Map((await this.decide([...new Set(waiting.map((w) => w.revision))])).map((d) => [d.revision, d]));
        for (const w of waiting) {
          const d = decided.get(w.revision);
          if (d?.kind !== 'status') continue;
          w.last = d.status;
          if (d.status.status === 'in-sync') w.settle(d.status, 'in-sync');
        }
        failing = false;
      } catch (e) {
        if (!failing) this.logger.warn(`propagation check failed; waiting writes keep waiting: ${e instanceof Error ? e.message : String(e)}`);
        failing = true;
      }
      if (this.waiters.size > 0) await new Promise((r) => setTimeout(r, PROPAGATION_POLL_MS));
    }
  }

  /** One round: the database, Kafka and Redis asked once (in parallel) for all `revisions`. */
  private async decide(revisions: number[]): Promise<Decided[]> {
    const [store, committed, feeds] = await Promise.all([this.facts.store(revisions), this.facts.committed(), this.facts.feedReports()]);
    const checkedAt = new Date();
    return revisions.flatMap((revision): Decided[] => {
      const facts = store.get(revision);
      if (!facts) return [];
      if (revision > facts.current) return [{ revision, kind: 'ahead', current: facts.current }];
      const status = decideStatus({ revision, store: facts, committed, feeds, replicaTimeoutMs: this.config.PROPAGATION_REPLICA_TIMEOUT_MS, checkedAt });
      return [{ revision, kind: 'status', status }];
    });
  }
}

/** A pending status with nothing known (the database could not be read before the timeout). */
function unknownStatus(revision: number): PropagationStatus {
  return { revision, committedAt: null, status: 'pending', published: false, cacheApplied: false, resolvers: [], checkedAt: new Date().toISOString() };
}
