import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { tokenDigest } from '@tm/auth';
import { parseRouteEvent, ROUTE_DELETED } from '@tm/contracts';
import { createRedisClient, parseEntry, redisMasters, routeKeyOfCacheKey } from '@tm/route-cache';
import {
  createTestDatabase,
  FaultProxy,
  ReplicatedPostgres,
  startApp,
  TEST_ADMIN_TOKEN,
  TestKafkaBroker,
  TestKafkaCluster,
  TestRedisCluster,
  TestRedisServer,
  testKeyPrefix,
  testTopic,
  type AppName,
  type AppProcess,
  type TestDatabase,
} from '@tm/testing';
import type { FaultName, FinalCacheEntry, FinalRoute, OutboxRow, TopicEvent } from './history';

/** The faults the system's processes and dependencies take; `revoke` is the run's own (a key revoked through the API: Victim). */
export type SystemFault = Exclude<FaultName, 'revoke'>;

export interface SystemOptions {
  ttlSeconds: number;
  /** The resolvers' AUTH_CACHE_TTL_MS: how long a verified key is trusted (the bound of rule R). */
  authCacheTtlMs: number;
  /** A Redis Cluster of its own (3 masters, 3 replicas) instead of one redis-server. */
  redisCluster?: boolean;
  /**
   * A PostgreSQL primary and streaming replica of its own (ReplicatedPostgres) instead of a database on
   * the shared server: the resolvers read the replica (DATABASE_READ_URL), which replica-pause and
   * replica-kill take away.
   */
  replica?: boolean;
  resolvers: number;
  relays: number;
  /**
   * 1: a single broker of its own (RF 1). 3 or more: a KRaft cluster of its own (combined nodes),
   * the topic replicated 3 times with min.insync.replicas=2.
   */
  kafkaBrokers: number;
  /** Called with each step of starting, for the console. */
  log: (line: string) => void;
}

const WORKER_GROUP = 'tm-consistency-worker';
/** How long an app may take to be ready: a machine running a cluster, six apps and the clients on 2 cores is slow. */
const READY_TIMEOUT_MS = 120_000;
/** The topic's partitions (the relay's default, created by the run on a cluster). */
const PARTITIONS = 6;

/** The Kafka of a run: one broker, or a cluster (which alone can lose its partition leader). */
type RunKafka = TestKafkaBroker | TestKafkaCluster;

/**
 * Redis of the run's own: one redis-server behind a fault proxy (cut, or restarted without its
 * data), or a Redis Cluster (a master killed, its replica promoted, the old master back as a replica).
 */
type RunRedis = { kind: 'server'; server: TestRedisServer; proxy: FaultProxy; url: string } | { kind: 'cluster'; cluster: TestRedisCluster; url: string };

/**
 * The real system as processes: the four apps (two resolvers, two relays), a Kafka broker of its
 * own (so it can be stopped), its own database on the local PostgreSQL behind a fault proxy, and a
 * Redis of its own (RunRedis).
 */
export class SystemUnderTest {
  private readonly replicas = new Map<AppName, AppProcess[]>();
  /** Every process the run started, the killed ones too, for their logs. */
  private readonly started: AppProcess[] = [];
  /** The node a kafka-leader-kill killed, until it is restarted. */
  private killedBroker: number | undefined;

  private constructor(
    readonly broker: RunKafka,
    readonly database: TestDatabase,
    readonly keyPrefix: string,
    readonly topic: string,
    private readonly postgres: FaultProxy,
    private readonly redis: RunRedis,
    private readonly env: Record<string, string>,
    private readonly replication: ReplicatedPostgres | undefined,
  ) {}

  /** The master killed by the last redis-failover, restarted at its heal. */
  private failedMaster: number | undefined;

  static async start(options: SystemOptions): Promise<SystemUnderTest> {
    const clustered = options.kafkaBrokers > 1;
    options.log(clustered ? `starting a Kafka cluster of its own (${options.kafkaBrokers} KRaft nodes)` : 'starting a Kafka broker of its own');
    const broker: RunKafka = clustered ? await TestKafkaCluster.start(options.kafkaBrokers) : await TestKafkaBroker.start();
    const undo: (() => Promise<unknown>)[] = [() => broker.stop()];
    try {
      let replication: ReplicatedPostgres | undefined;
      let database: TestDatabase;
      if (options.replica) {
        options.log('starting a PostgreSQL primary and a streaming replica of its own');
        const cluster = await ReplicatedPostgres.start();
        replication = cluster;
        // Its database is the cluster's: dropping it stops both servers and removes their folder.
        database = { name: 'traffic_manager', url: cluster.primaryUrl, drop: () => cluster.stop() };
      } else database = await createTestDatabase();
      undo.push(() => database.drop());
      const pg = await FaultProxy.forUrl(database.url);
      undo.push(() => pg.proxy.stop());
      let redis: RunRedis;
      if (options.redisCluster) {
        options.log('starting a Redis Cluster of its own (3 masters, 3 replicas)');
        const cluster = await TestRedisCluster.start({ nodeTimeoutMs: 2_000 });
        undo.push(() => cluster.stop());
        redis = { kind: 'cluster', cluster, url: cluster.url };
      } else {
        const server = await TestRedisServer.start();
        undo.push(() => server.stop());
        const fronted = await FaultProxy.forUrl(server.url);
        undo.push(() => fronted.proxy.stop());
        redis = { kind: 'server', server, proxy: fronted.proxy, url: fronted.url };
      }
      const keyPrefix = testKeyPrefix();
      const topic = testTopic();
      // On a cluster the run creates the topic: replicated 3 times, min.insync.replicas=2 (acks=all then survives one broker).
      if (broker instanceof TestKafkaCluster) await broker.createTopic(topic, { partitions: PARTITIONS, replicationFactor: 3, minInsyncReplicas: 2 });
      const env: Record<string, string> = {
        DATABASE_URL: pg.url,
        REDIS_URL: redis.url,
        // Fast enough to notice a failover within a short run.
        WORKER_REDIS_CHECK_INTERVAL_MS: '500',
        KAFKA_BROKERS: broker.brokers,
        CACHE_KEY_PREFIX: keyPrefix,
        KAFKA_ROUTE_EVENTS_TOPIC: topic,
        KAFKA_CONSUMER_GROUP: WORKER_GROUP,
        TM_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
        CACHE_TTL_SECONDS: String(options.ttlSeconds),
        CACHE_NEGATIVE_TTL_SECONDS: String(Math.min(5, options.ttlSeconds)),
        AUTH_CACHE_TTL_MS: String(options.authCacheTtlMs),
        // The checker judges consistency, not the rate limit: its clients must never be refused for their pace.
        RATE_LIMIT_PER_KEY: '1000000',
        OUTBOX_RETENTION_HOURS: '0',
        // Watch clients treat 3 silent intervals as down: short enough to be seen within a fault.
        WATCH_BOOKMARK_INTERVAL_MS: '1000',
        LOG_LEVEL: 'warn',
        KAFKA_TOPIC_PARTITIONS: String(PARTITIONS),
      };
      if (clustered) env['KAFKA_REPLICATION_FACTOR'] = '3';
      // The resolvers reach the replica directly: postgres-cut cuts the primary only.
      if (replication) env['DATABASE_READ_URL'] = replication.replicaUrl;
      const system = new SystemUnderTest(broker, database, keyPrefix, topic, pg.proxy, redis, env, replication);
      undo.push(() => system.stopApps());
      const counts: [AppName, number][] = [
        ['command-api', 1],
        ['outbox-relay', options.relays],
        ['invalidation-worker', 1],
        ['resolver', options.resolvers],
      ];
      for (const [app, n] of counts) {
        options.log(`starting ${n} × ${app}`);
        // Every start settles before a failure goes out, so that the replicas that did start are stopped.
        const started = await Promise.allSettled(Array.from({ length: n }, () => startApp(app, env, undefined, READY_TIMEOUT_MS)));
        system.replicas.set(app, started.filter((s): s is PromiseFulfilledResult<AppProcess> => s.status === 'fulfilled').map((s) => s.value));
        system.started.push(...(system.replicas.get(app) ?? []));
        const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
        if (failed) throw failed.reason;
      }
      return system;
    } catch (e) {
      for (const step of undo.reverse()) await step().catch(() => undefined);
      throw e;
    }
  }

  private procs(app: AppName): AppProcess[] {
    return this.replicas.get(app) ?? [];
  }

  get commandApi(): string {
    return (this.procs('command-api')[0] as AppProcess).url;
  }

  /** The resolver replicas' URLs; a replica keeps its port across restarts. */
  get resolverUrls(): string[] {
    return this.procs('resolver').map((p) => p.url);
  }

  /** Injects a fault; returns the replica it hit, for the kills. */
  async inject(fault: SystemFault, pick: (n: number) => number): Promise<number | undefined> {
    switch (fault) {
      case 'relay-kill':
        return this.kill('outbox-relay', pick);
      case 'worker-kill':
        return this.kill('invalidation-worker', pick);
      case 'resolver-kill':
        return this.kill('resolver', pick);
      case 'kafka-stop':
        await this.broker.pause();
        return undefined;
      case 'redis-cut':
        this.redisServer().proxy.refuse();
        return undefined;
      case 'redis-restart':
        await this.redisServer().server.kill();
        return undefined;
      case 'redis-failover': {
        const cluster = this.redisCluster();
        const masters = (await cluster.view()).filter((n) => n.role === 'master' && !n.failed && n.slots.length > 0);
        const master = masters[pick(masters.length)];
        if (!master) throw new Error('the cluster has no master to fail over');
        this.failedMaster = master.port;
        await cluster.kill(master.port);
        return undefined;
      }
      case 'postgres-cut':
        this.postgres.refuse();
        return undefined;
      case 'replica-pause':
        await this.replica(fault).pauseReplay();
        return undefined;
      case 'replica-kill':
        this.replica(fault).killReplica();
        return undefined;
      case 'kafka-leader-kill': {
        const cluster = this.cluster(fault);
        const leader = await cluster.leaderOf(this.topic, pick(PARTITIONS));
        await cluster.kill(leader);
        this.killedBroker = leader;
        return leader;
      }
    }
  }

  private cluster(fault: SystemFault): TestKafkaCluster {
    if (!(this.broker instanceof TestKafkaCluster)) throw new Error(`${fault} needs a Kafka cluster (--kafka-brokers 3)`);
    return this.broker;
  }

  private replica(fault: SystemFault): ReplicatedPostgres {
    if (!this.replication) throw new Error(`${fault} needs a PostgreSQL replica (--replica)`);
    return this.replication;
  }

  /** The resolvers' database reads by target (primary, replica), from their metrics: what the replica served. */
  async readsByTarget(): Promise<Record<string, number>> {
    const totals: Record<string, number> = {};
    for (const url of this.resolverUrls) {
      const text = await fetch(`${url}/metrics`).then((r) => r.text()).catch(() => '');
      for (const m of text.matchAll(/^tm_resolver_database_reads_by_target_total\{read="(\w+)",target="(\w+)"[^}]*\} (\d+)/gm)) {
        const key = `${m[1]}:${m[2]}`;
        totals[key] = (totals[key] ?? 0) + Number(m[3]);
      }
    }
    return totals;
  }

  private redisServer(): Extract<RunRedis, { kind: 'server' }> {
    if (this.redis.kind !== 'server') throw new Error('this fault needs one redis-server (run without --redis-cluster)');
    return this.redis;
  }

  private redisCluster(): TestRedisCluster {
    if (this.redis.kind !== 'cluster') throw new Error('this fault needs a Redis Cluster (--redis-cluster)');
    return this.redis.cluster;
  }

  async heal(fault: SystemFault): Promise<void> {
    switch (fault) {
      case 'relay-kill':
        return this.restartDead('outbox-relay');
      case 'worker-kill':
        return this.restartDead('invalidation-worker');
      case 'resolver-kill':
        return this.restartDead('resolver');
      case 'kafka-stop':
        return this.broker.resume();
      case 'redis-cut':
        return this.redisServer().proxy.restore();
      case 'redis-restart':
        // Empty: nothing was persisted.
        return this.redisServer().server.restart();
      case 'redis-failover': {
        const cluster = this.redisCluster();
        const old = this.failedMaster;
        if (old === undefined) return;
        this.failedMaster = undefined;
        await cluster.waitForPromotion(old);
        // Back empty, as a replica of the one promoted in its place.
        await cluster.restart(old);
        return;
      }
      case 'postgres-cut':
        return this.postgres.restore();
      case 'replica-pause':
        return this.replica(fault).resumeReplay();
      case 'replica-kill':
        return this.replica(fault).startReplica();
      case 'kafka-leader-kill': {
        const cluster = this.cluster(fault);
        if (this.killedBroker !== undefined) await cluster.restart(this.killedBroker);
        this.killedBroker = undefined;
        // Healed once every replica is back in sync, so a later kill leaves two in-sync replicas.
        return cluster.waitInSync(this.topic, 120_000);
      }
    }
  }

  private async kill(app: AppName, pick: (n: number) => number): Promise<number> {
    const procs = this.procs(app);
    const index = pick(procs.length);
    await (procs[index] as AppProcess).kill();
    return index;
  }

  private async restartDead(app: AppName): Promise<void> {
    const procs = this.procs(app);
    for (const [i, proc] of procs.entries()) {
      if (!proc.running) {
        const restarted = await startApp(app, this.env, proc.port, READY_TIMEOUT_MS);
        procs[i] = restarted;
        this.started.push(restarted);
      }
    }
  }

  /**
   * Waits until every outbox row is published and the worker has committed every offset of the
   * topic; the time it took, or why it did not happen within the timeout.
   */
  async drain(timeoutMs: number): Promise<{ ms: number; stuck?: string }> {
    const started = Date.now();
    const admin = this.kafka().admin();
    await admin.connect();
    // One connection for every poll (the database is reached directly, not through the proxy).
    const db = new Client({ connectionString: this.database.url });
    await db.connect();
    let why = '';
    try {
      while (Date.now() - started < timeoutMs) {
        const { rows } = await db.query<{ pending: string }>('SELECT count(*) AS pending FROM outbox WHERE published_at IS NULL');
        const pending = rows[0]?.pending ?? '0';
        if (Number(pending) > 0) why = `${pending} outbox rows unpublished`;
        else {
          const ends = await admin.fetchTopicOffsets(this.topic);
          const [committed] = await admin.fetchOffsets({ groupId: WORKER_GROUP, topics: [this.topic] });
          const lag = ends.reduce((sum, p) => {
            const done = committed?.partitions.find((c) => c.partition === p.partition);
            return sum + Math.max(0, Number(p.high) - Math.max(0, Number(done?.offset ?? -1)));
          }, 0);
          if (lag === 0) return { ms: Date.now() - started };
          why = `the worker is ${lag} messages behind`;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      return { ms: Date.now() - started, stuck: why };
    } finally {
      await Promise.allSettled([admin.disconnect(), db.end()]);
    }
  }

  private kafka(): Kafka {
    return new Kafka({ clientId: 'tm-consistency', brokers: this.broker.brokers.split(','), logLevel: logLevel.NOTHING });
  }

  private async query<T>(sql: string): Promise<T[]> {
    const client = new Client({ connectionString: this.database.url });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async outbox(): Promise<OutboxRow[]> {
    const rows = await this.query<{ revision: string; route_key: string; event_id: string; event_type: string; url: string | null; published: boolean }>(
      `SELECT revision, route_key, event_id, event_type, payload->'data'->>'url' AS url, published_at IS NOT NULL AS published FROM outbox ORDER BY revision`,
    );
    return rows.map((r) => ({
      revision: Number(r.revision),
      key: r.route_key,
      eventId: r.event_id,
      deleted: r.event_type === ROUTE_DELETED,
      url: r.url,
      published: r.published,
    }));
  }

  async routes(): Promise<Map<string, FinalRoute>> {
    const rows = await this.query<{ key: string; url: string; revision: string }>(
      `SELECT t.slug || '/' || s.name || '/' || e.environment AS key, e.url, e.revision
         FROM endpoints e JOIN services s ON s.id = e.service_id JOIN tenants t ON t.id = s.tenant_id`,
    );
    return new Map(rows.map((r) => [r.key, { url: r.url, revision: Number(r.revision) }]));
  }

  /** Every cache entry under the run's prefix, read from Redis directly (every master of a cluster). */
  async cache(): Promise<Map<string, FinalCacheEntry | 'unparsable'>> {
    const client = createRedisClient({ url: this.redis.kind === 'server' ? this.redis.server.url : this.redis.url });
    await client.connect();
    const out = new Map<string, FinalCacheEntry | 'unparsable'>();
    try {
      for (const master of await redisMasters(client)) {
        let cursor = '0';
        do {
          const [next, keys] = (await master.client.sendCommand(['SCAN', cursor, 'MATCH', `${this.keyPrefix}route:*`, 'COUNT', '500'])) as [string, string[]];
          cursor = String(next);
          for (const key of keys) {
          const hash = await client.hGetAll(key);
          const entry = parseEntry(hash);
          const route = routeKeyOfCacheKey(this.keyPrefix, key) ?? key;
          if (entry) out.set(route, { route: entry.route, asOf: entry.asOf });
          else if (hash['s'] !== undefined) out.set(route, 'unparsable');
          }
        } while (cursor !== '0');
      }
    } finally {
      await client.close();
    }
    return out;
  }

  /**
   * Of these stored keys' tokens, those whose outage credential (what a resolver recalls while
   * PostgreSQL is unreachable) is in Redis now: `<prefix>auth:{<digest>}`, written by the resolver's
   * RedisOutageCredentials.
   */
  async outageCredentials(tokens: string[]): Promise<Set<string>> {
    const client = createRedisClient({ url: this.redis.kind === 'server' ? this.redis.server.url : this.redis.url });
    await client.connect();
    try {
      const found = await Promise.all(tokens.map(async (t) => ((await client.exists(`${this.keyPrefix}auth:{${tokenDigest(t)}}`)) > 0 ? [t] : [])));
      return new Set(found.flat());
    } finally {
      await client.close();
    }
  }

  /** Every message on the topic, from the beginning to the end offsets of now. */
  async topicEvents(timeoutMs = 30_000): Promise<TopicEvent[]> {
    const kafka = this.kafka();
    const admin = kafka.admin();
    await admin.connect();
    const ends = await admin.fetchTopicOffsets(this.topic);
    await admin.disconnect();
    const expected = ends.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
    const consumer = kafka.consumer({ groupId: `tm-consistency-reader-${Date.now()}` });
    const events: TopicEvent[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic: this.topic, fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          const parsed = parseRouteEvent(String(message.value));
          const event = 'event' in parsed ? parsed.event : undefined;
          events.push({
            partition,
            offset: Number(message.offset),
            key: String(message.key),
            eventId: event?.id ?? `unparsable: ${'error' in parsed ? parsed.error : ''}`,
            subject: event?.subject ?? '',
            deleted: event?.type === ROUTE_DELETED,
            url: event?.data.url ?? null,
            revision: event?.data.revision ?? -1,
          });
        },
      });
      const deadline = Date.now() + timeoutMs;
      while (events.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      return events;
    } finally {
      await consumer.disconnect();
    }
  }

  /** The last `n` lines each running replica of `app` wrote (its warnings and errors: LOG_LEVEL=warn). */
  tail(app: AppName, n: number): string[] {
    return this.procs(app).flatMap((p, i) => p.output.slice(-n).map((line) => `${app}[${i}] ${line}`));
  }

  /** Writes what every process of the run wrote, killed ones included, to `<dir>/logs/<app>-<n>.log`. */
  async saveLogs(dir: string): Promise<void> {
    await mkdir(join(dir, 'logs'), { recursive: true });
    const seen = new Map<AppName, number>();
    for (const proc of this.started) {
      const n = seen.get(proc.app) ?? 0;
      seen.set(proc.app, n + 1);
      await writeFile(join(dir, 'logs', `${proc.app}-${n}.log`), proc.output.map((line) => `${line}\n`).join(''));
    }
  }

  private async stopApps(): Promise<void> {
    await Promise.all([...this.replicas.values()].flat().map((p) => p.stop()));
  }

  /**
   * Stops the apps and removes what the run created, every step whatever the others did (a fault
   * may still be injected: a node killed, Kafka stopped, a proxy refusing); fails after them all
   * with what failed.
   */
  async stop(): Promise<void> {
    this.postgres.restore();
    if (this.redis.kind === 'server') this.redis.proxy.restore();
    const apps = await Promise.allSettled([this.stopApps()]);
    const redis = this.redis.kind === 'server' ? [this.redis.proxy.stop(), this.redis.server.stop()] : [this.redis.cluster.stop()];
    const rest = await Promise.allSettled([this.postgres.stop(), ...redis, this.database.drop(), this.broker.stop()]);
    const failed = [...apps, ...rest].filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (failed.length > 0) throw new AggregateError(failed, `stopping the system: ${failed.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')}`);
  }
}
