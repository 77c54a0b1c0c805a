import type { WatcherLog } from './watchers';
/**
 * What the consistency checker records: every operation a client ran against the real system,
 * with its start and end (ms since the epoch, sub-millisecond), the request and the answer.
 */

export type ReadMode = 'default' | 'min-revision' | 'strong';
export type WriteKind = 'put' | 'put-if-match' | 'put-if-none-match' | 'delete';

interface OpBase {
  /** Position in the history, unique. */
  id: number;
  /** The client (session) that ran it; a client runs one operation at a time. */
  client: number;
  /** The route key tenant/service/environment. */
  key: string;
  start: number;
  end: number;
  /** The HTTP status, or null when no answer came (connection refused, reset, timeout). */
  status: number | null;
  error?: string;
  /** Run through the SDK (TrafficManagerClient) rather than raw HTTP. */
  sdk?: true;
  /** The victim key's generation it was sent with (`victim-<n>`, the `revoke` fault's); absent: its tenant's own key. */
  credential?: string;
}

export interface WriteOp extends OpBase {
  type: 'write';
  kind: WriteKind;
  /** The URL a PUT sets (unique per operation, so a read tells which write it sees); null for DELETE. */
  url: string | null;
  /** If-Match revision sent (put-if-match). */
  ifMatch?: number;
  /** X-Route-Revision of a 2xx answer. */
  revision?: number;
}

export interface ReadOp extends OpBase {
  type: 'read';
  mode: ReadMode;
  /** Which resolver replica answered (index). */
  resolver: number;
  /** X-Min-Revision sent (min-revision mode). */
  minRevision?: number;
  /** The URL of a 200 answer; null for a 404. */
  url?: string | null;
  /** X-Route-Revision (200). */
  revision?: number;
  /** X-Consistency-Revision (200 and 404). */
  asOf?: number;
  /** X-Cache. */
  cache?: string;
}

/** One change of a change set as sent, with its outcome from a 2xx answer. */
export interface SetChange {
  key: string;
  op: 'put' | 'delete';
  /** The URL a put sets (unique per change, so a read tells which change it sees); null for a delete. */
  url: string | null;
  /** `ifRevision` sent: the revision the client last saw the route at. */
  ifRevision?: number;
  /** `ifAbsent: true` sent: the client last saw the route absent. */
  ifAbsent?: true;
  /** A deliberately bad change (a put whose URL is not one): the set must be refused with 400. */
  invalid?: true;
  /** From a 2xx answer: what the change did. */
  result?: 'created' | 'updated' | 'deleted' | 'unchanged';
  /** From a 2xx answer: the route's revision after the set (null: it does not exist). */
  revision?: number | null;
}

/** A 412's conflict: the route, the compare sent (null: ifAbsent) and its revision then (null: absent). */
export interface SetConflict {
  route: string;
  expected: number | null;
  actual: number | null;
}

/**
 * `POST /v1/changes`: many routes, all or nothing, at one revision. It has no `key` of its own: each
 * change names its route.
 */
export interface ChangeSetOp extends Omit<OpBase, 'key'> {
  type: 'changeset';
  changes: SetChange[];
  /** The set's revision from a 2xx answer (the store's current one when it changed nothing). */
  revision?: number;
  /** A 412's conflicts. */
  conflicts?: SetConflict[];
}

export type Op = WriteOp | ReadOp | ChangeSetOp;
/** An operation on one route (everything but a change set). */
export type RouteOp = WriteOp | ReadOp;

export type FaultName =
  | 'relay-kill'
  | 'worker-kill'
  | 'resolver-kill'
  | 'kafka-stop'
  | 'redis-cut'
  | 'redis-restart'
  | 'redis-failover'
  | 'postgres-cut'
  | 'kafka-leader-kill'
  | 'replica-pause'
  | 'replica-kill'
  | 'revoke';

/** The faults of a run on one Redis node (its own redis-server behind the fault proxy). */
export const ALL_FAULTS: FaultName[] = ['relay-kill', 'worker-kill', 'resolver-kill', 'kafka-stop', 'redis-cut', 'redis-restart', 'postgres-cut', 'revoke'];

/** The faults of a run on a Redis Cluster (`--redis-cluster`): the Redis faults are a master's failover. */
export const CLUSTER_FAULTS: FaultName[] = ['relay-kill', 'worker-kill', 'resolver-kill', 'kafka-stop', 'redis-failover', 'postgres-cut', 'revoke'];

/** The faults a run can inject on one Redis node or on a cluster. */
export function faultsFor(redisCluster: boolean): FaultName[] {
  return redisCluster ? CLUSTER_FAULTS : ALL_FAULTS;
}

/**
 * Faults that need a Kafka cluster (`--kafka-brokers 3`), added to ALL_FAULTS there:
 * kafka-leader-kill SIGKILLs the broker that leads a partition of the topic, then restarts it.
 */
export const KAFKA_CLUSTER_FAULTS: FaultName[] = ['kafka-leader-kill'];

/**
 * Faults of a run with a PostgreSQL streaming replica (`--replica`), added to the others there:
 * replica-pause pauses its WAL replay (`pg_wal_replay_pause()`: it answers, frozen) and resumes it;
 * replica-kill stops it at once and starts it again. Neither excuses anything: the primary serves.
 */
export const REPLICA_FAULTS: FaultName[] = ['replica-pause', 'replica-kill'];

/** One injected fault: injected at `start`, healed (the restore step returned) at `healed`. */
export interface FaultWindow {
  fault: FaultName;
  start: number;
  healed: number;
  /** For resolver-kill: the replica that was killed. */
  resolver?: number;
  /** For kafka-leader-kill: the node id of the broker that was killed. */
  broker?: number;
  /** For revoke: the victim key's generation that was revoked, and when the DELETE's 2xx answer arrived. */
  credential?: string;
  revokedAt?: number;
  /**
   * For postgres-cut: the revoked victim generations whose outage credential was still in Redis once
   * the cut began (they may read during it); absent: not known (runs saved before, or not readable).
   */
  remembered?: string[];
}

/** A route's row at the end of the run. */
export interface FinalRoute {
  url: string;
  revision: number;
}

/** An outbox row: the ground truth of what committed, in revision order. */
export interface OutboxRow {
  revision: number;
  key: string;
  eventId: string;
  deleted: boolean;
  url: string | null;
  published: boolean;
}

/** A message read back from the topic. */
export interface TopicEvent {
  partition: number;
  offset: number;
  key: string;
  eventId: string;
  subject: string;
  deleted: boolean;
  url: string | null;
  revision: number;
}

/** A cache entry as the checker read it from Redis after quiescence. */
export interface FinalCacheEntry {
  route: { url: string; revision: number } | null;
  asOf: number;
}

/** The system's state after the run, once writes stopped and events drained. */
export interface FinalState {
  outbox: OutboxRow[];
  routes: Map<string, FinalRoute>;
  cache: Map<string, FinalCacheEntry | 'unparsable'>;
  topic: TopicEvent[];
  /** A default-mode read of every key through every resolver, after quiescence. */
  finalReads: ReadOp[];
  /** How long after the last fault healed the system took to drain (outbox published, worker caught up). */
  drainMs: number;
  /** Why the system did not drain, when it did not (a G7 violation). */
  stuck?: string;
  /** What the watch clients received (absent in runs saved before they existed). */
  watchers?: WatcherLog[];
}
