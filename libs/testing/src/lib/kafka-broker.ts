import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { REPO_ROOT } from './env';

const SCRIPT = join(REPO_ROOT, 'tools', 'kafka', 'kafka');

/** A free port in 20000-29999 (below Linux's ephemeral range, 32768-60999), with a gap above it for the controller. */
async function freeLowPort(taken: Set<number> = new Set()): Promise<number> {
  for (;;) {
    const port = 20_000 + 2 * Math.floor(Math.random() * 4_900);
    if (taken.has(port)) continue;
    if ((await portFree(port)) && (await portFree(port + 1))) return port;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function kafka(command: string, env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [SCRIPT, command], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // 'close', not 'exit': the output may still be on its way when the script has exited (the broker
    // itself writes to its log, never to this pipe).
    child.once('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`kafka ${command} failed: ${err || out}`))));
  });
}

/** Nodes still running: killed and removed when the process exits without stopping them (a failed test, Ctrl-C). */
const live = new Set<KafkaNode>();
let exitHookInstalled = false;
function track(node: KafkaNode): void {
  live.add(node);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const n of live) n.killNow();
  });
}

interface NodeSettings {
  /** node.id */
  nodeId?: number;
  /** The controller's port (default: the next free one above the client port). */
  controllerPort?: number;
  /** controller.quorum.voters (default: this node alone). */
  voters?: string;
  clusterId?: string;
  /** server.properties lines overriding the template's (tools/kafka/server.properties). */
  properties?: Record<string, string | number>;
  startTimeoutSeconds?: number;
}

/** One Kafka process run by tools/kafka/kafka from a folder of its own. */
class KafkaNode {
  constructor(
    readonly dir: string,
    readonly port: number,
    private readonly settings: NodeSettings,
  ) {}

  private get env(): Record<string, string> {
    const s = this.settings;
    // KAFKA_PORT_EXACT: this port or none (a restarted node of a cluster is known by it to its peers and clients).
    const env: Record<string, string> = { KAFKA_DIR: this.dir, KAFKA_PORT: String(this.port), KAFKA_PORT_EXACT: '1', KAFKA_HEAP_OPTS: '-Xms128m -Xmx384m' };
    if (s.nodeId !== undefined) env['KAFKA_NODE_ID'] = String(s.nodeId);
    if (s.controllerPort !== undefined) env['KAFKA_CONTROLLER_PORT'] = String(s.controllerPort);
    if (s.voters !== undefined) env['KAFKA_QUORUM_VOTERS'] = s.voters;
    if (s.clusterId !== undefined) env['KAFKA_CLUSTER_ID'] = s.clusterId;
    if (s.properties) env['KAFKA_EXTRA_PROPERTIES'] = Object.entries(s.properties).map(([k, v]) => `${k}=${v}`).join('\n');
    if (s.startTimeoutSeconds !== undefined) env['KAFKA_START_TIMEOUT_S'] = String(s.startTimeoutSeconds);
    return env;
  }

  async start(): Promise<void> {
    track(this);
    const brokers = await kafka('start', this.env);
    if (!brokers.endsWith(`:${this.port}`)) throw new Error(`the test broker came up on ${brokers}, not port ${this.port}`);
  }

  /** SIGTERM (a controlled shutdown); the data stays. */
  async stop(): Promise<void> {
    try {
      this.signal('SIGCONT');
    } catch {
      // not running
    }
    await kafka('stop', this.env);
  }

  /**
   * The broker's pid while it runs. A pid file outlives its process, and pids are reused (soon where
   * pid_max is 32768 and the JVMs' threads draw from it too): the pid counts only while its command
   * line is this folder's broker (an exited process waiting to be reaped has none).
   */
  pid(): number | undefined {
    const file = join(this.dir, 'kafka.pid');
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8'));
    return Number.isInteger(pid) && pid > 0 && this.isBroker(pid) ? pid : undefined;
  }

  private isBroker(pid: number): boolean {
    return this.commandLine(pid)?.includes(`kafka.Kafka ${join(this.dir, 'server.properties')}`) ?? false;
  }

  /** The pid's command line; '' while it exits or waits to be reaped; undefined once it is gone. */
  private commandLine(pid: number): string | undefined {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      return undefined;
    }
  }

  signal(signal: NodeJS.Signals): void {
    const pid = this.pid();
    if (pid === undefined) throw new Error(`no Kafka process in ${this.dir}`);
    process.kill(pid, signal);
  }

  /** SIGKILL; resolves once the process is gone. */
  async kill(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      return; // already gone
    }
    // Gone once reaped: an exiting JVM loses its command line before its last threads (and its
    // sockets) are gone. A command line of another program is the pid reused after the reaping.
    for (;;) {
      const line = this.commandLine(pid);
      if (line === undefined || (line !== '' && !this.isBroker(pid))) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Synchronous, for the exit hook: SIGKILL and remove the folder. */
  killNow(): void {
    try {
      const pid = this.pid();
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    this.remove();
  }

  remove(): void {
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** SASL/PLAIN on the client listener: the users the broker accepts, name → password. */
export interface SaslPlainListener {
  users: Record<string, string>;
}

export interface TestKafkaBrokerOptions {
  /** The client listener is SASL_PLAINTEXT with the PLAIN mechanism and these users (default: PLAINTEXT). */
  saslPlain?: SaslPlainListener;
}

/** The JAAS line of a PLAIN listener: the broker's own login (for inter-broker requests) and the users it accepts. */
function plainJaas(users: Record<string, string>): string {
  const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;
  const [self, password] = Object.entries(users)[0] ?? ['', ''];
  const accepted = Object.entries(users)
    .map(([u, p]) => `user_${u}=${quote(p)}`)
    .join(' ');
  return `org.apache.kafka.common.security.plain.PlainLoginModule required username=${quote(self)} password=${quote(password)} ${accepted};`;
}

function saslProperties(sasl: SaslPlainListener): Record<string, string> {
  return {
    listeners: 'SASL_PLAINTEXT://127.0.0.1:@PORT@,CONTROLLER://127.0.0.1:@CONTROLLER_PORT@',
    'advertised.listeners': 'SASL_PLAINTEXT://127.0.0.1:@PORT@',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT',
    'inter.broker.listener.name': 'SASL_PLAINTEXT',
    'sasl.enabled.mechanisms': 'PLAIN',
    'sasl.mechanism.inter.broker.protocol': 'PLAIN',
    'listener.name.sasl_plaintext.plain.sasl.jaas.config': plainJaas(sasl.users),
  };
}

/**
 * A Kafka broker of a test's own (tools/kafka/kafka with its own folder and port), for tests that
 * stop and start Kafka without disturbing the shared one.
 */
export class TestKafkaBroker {
  private constructor(private readonly node: KafkaNode) {}

  get port(): number {
    return this.node.port;
  }

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Starts a broker on a port below the ephemeral range (where the apps' and clients' ports come
   * from), so that a port found free is not taken by an outgoing connection before Kafka binds it
   * (the controller takes the next free port above it). A start that still loses that race is
   * tried again on other ports.
   */
  static async start(options: TestKafkaBrokerOptions = {}): Promise<TestKafkaBroker> {
    const properties = options.saslPlain ? saslProperties(options.saslPlain) : undefined;
    for (let attempt = 1; ; attempt++) {
      const node = new KafkaNode(mkdtempSync(join(tmpdir(), 'tm-kafka-')), await freeLowPort(), properties ? { properties } : {});
      try {
        await node.start();
        return new TestKafkaBroker(node);
      } catch (e) {
        await node.kill();
        node.remove();
        if (attempt >= 3) throw e;
      }
    }
  }

  /** Stops the broker; its data stays, so `resume()` brings the same topics back. */
  async pause(): Promise<void> {
    await this.node.stop();
  }

  async resume(): Promise<void> {
    await this.node.start();
  }

  /** The broker stops answering without closing its connections (SIGSTOP): a hung peer. */
  freeze(): void {
    this.node.signal('SIGSTOP');
  }

  thaw(): void {
    this.node.signal('SIGCONT');
  }

  async stop(): Promise<void> {
    await this.node.stop();
    this.node.remove();
  }
}

/**
 * A KRaft cluster of a test's own: `n` combined broker+controller nodes (node ids 1..n), all of them
 * controller voters. Killing a node that leads partitions may also kill the active controller, so
 * a test of broker loss covers controller failover too, and a quorum of 3 survives one loss. The
 * offsets and transaction-state topics are replicated min(n, 3) times with min ISR 2, as is every
 * topic created without settings of its own, so the group coordinator and acks=all writes survive
 * the loss of one node. A dead node's broker is fenced after 9 s (broker.session.timeout.ms),
 * which moves its partitions' leadership to an in-sync replica and takes it out of every ISR.
 */
export class TestKafkaCluster {
  private constructor(private readonly nodes: Map<number, KafkaNode>) {}

  /** Starts `n` nodes at once (a node finishes starting only when a quorum of voters is up). */
  static async start(n = 3): Promise<TestKafkaCluster> {
    if (!Number.isInteger(n) || n < 1) throw new Error(`a cluster needs at least one node, got ${n}`);
    const replication = Math.min(n, 3);
    const minIsr = Math.min(replication, 2);
    const properties = {
      'num.partitions': 3,
      'default.replication.factor': replication,
      'min.insync.replicas': minIsr,
      'offsets.topic.replication.factor': replication,
      'transaction.state.log.replication.factor': replication,
      'transaction.state.log.min.isr': minIsr,
      // Fenced after 9 s without a heartbeat (Kafka's default): shorter timed out healthy brokers
      // of a busy 2-core machine.
      'broker.heartbeat.interval.ms': 1_000,
    };
    for (let attempt = 1; ; attempt++) {
      const taken = new Set<number>();
      const ports: number[] = [];
      for (let i = 0; i < n; i++) {
        const port = await freeLowPort(taken);
        taken.add(port);
        ports.push(port);
      }
      const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p + 1}`).join(',');
      const clusterId = clusterUuid();
      const nodes = new Map(
        ports.map((port, i) => [
          i + 1,
          new KafkaNode(mkdtempSync(join(tmpdir(), `tm-kafka-${i + 1}-`)), port, {
            nodeId: i + 1,
            controllerPort: port + 1,
            voters,
            clusterId,
            properties,
            startTimeoutSeconds: 180,
          }),
        ]),
      );
      const cluster = new TestKafkaCluster(nodes);
      const started = await Promise.allSettled([...nodes.values()].map((node) => node.start()));
      const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (!failed) return cluster;
      await cluster.stop();
      if (attempt >= 3) throw failed.reason;
    }
  }

  get nodeIds(): number[] {
    return [...this.nodes.keys()];
  }

  /** The bootstrap list, every node. */
  get brokers(): string {
    return [...this.nodes.values()].map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  private node(nodeId: number): KafkaNode {
    const node = this.nodes.get(nodeId);
    if (!node) throw new Error(`no node ${nodeId} in this cluster (nodes ${this.nodeIds.join(', ')})`);
    return node;
  }

  /** SIGKILL of one node: no controlled shutdown, its connections reset. Resolves once it is gone. */
  async kill(nodeId: number): Promise<void> {
    await this.node(nodeId).kill();
  }

  /** Starts a node again from its data; resolves once it has rejoined (registered and unfenced). */
  async restart(nodeId: number): Promise<void> {
    await this.node(nodeId).start();
  }

  /** Stops every node (SIGTERM, at once); the data stays. */
  async pause(): Promise<void> {
    await everyNode(this.nodes, (n) => n.stop());
  }

  /** Starts every node again (at once: a node needs a quorum to finish starting). */
  async resume(): Promise<void> {
    await everyNode(this.nodes, (n) => n.start());
  }

  /** A kafkajs client for the cluster (no logs). */
  client(clientId = 'tm-test-cluster'): Kafka {
    return new Kafka({ clientId, brokers: this.brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 100 } });
  }

  /**
   * Creates a topic (default: replicated min(n, 3) times, min.insync.replicas 2) and waits until
   * every node knows it and every replica is in sync. (kafkajs's waitForLeaders asks one node,
   * which may not have the topic's metadata yet: "This server does not host this topic-partition".)
   */
  async createTopic(topic: string, options: { partitions: number; replicationFactor?: number; minInsyncReplicas?: number }): Promise<void> {
    const admin = this.client().admin();
    await admin.connect();
    try {
      const replicationFactor = options.replicationFactor ?? Math.min(this.nodes.size, 3);
      const minIsr = options.minInsyncReplicas ?? Math.min(replicationFactor, 2);
      await admin.createTopics({
        waitForLeaders: false,
        topics: [{ topic, numPartitions: options.partitions, replicationFactor, configEntries: [{ name: 'min.insync.replicas', value: String(minIsr) }] }],
      });
    } finally {
      await admin.disconnect();
    }
    await this.waitInSync(topic);
  }

  /** Partition → the node id leading it and the node ids in sync, from a fresh metadata request. */
  async partitions(topic: string): Promise<{ partition: number; leader: number; replicas: number[]; isr: number[] }[]> {
    const admin = this.client().admin();
    await admin.connect();
    try {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      return (topics[0]?.partitions ?? [])
        .map((p) => ({ partition: p.partitionId, leader: p.leader, replicas: p.replicas, isr: p.isr }))
        .sort((a, b) => a.partition - b.partition);
    } finally {
      await admin.disconnect();
    }
  }

  /** The node id that leads a partition of the topic. */
  async leaderOf(topic: string, partition = 0): Promise<number> {
    const p = (await this.partitions(topic)).find((x) => x.partition === partition);
    if (!p || p.leader < 0) throw new Error(`partition ${partition} of ${topic} has no leader`);
    return p.leader;
  }

  /** Waits until every replica of every partition of the topic is in sync (after a restart). */
  async waitInSync(topic: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let behind = '';
    while (Date.now() < deadline) {
      const parts = await this.partitions(topic).catch(() => []);
      const lagging = parts.filter((p) => p.isr.length < p.replicas.length || p.leader < 0);
      if (parts.length > 0 && lagging.length === 0) return;
      behind = lagging.map((p) => `partition ${p.partition} isr [${p.isr.join(',')}] of [${p.replicas.join(',')}]`).join('; ');
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${topic} not in sync within ${timeoutMs} ms: ${behind}`);
  }

  /** Kills every node and removes its data. */
  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.kill()));
    for (const n of this.nodes.values()) n.remove();
  }
}

/**
 * Runs a step on every node at once and settles when every one has: a start or stop still running
 * after another failed would leave a node that nobody stops. Fails with the first failure.
 */
async function everyNode(nodes: Map<number, KafkaNode>, step: (node: KafkaNode) => Promise<void>): Promise<void> {
  const settled = await Promise.allSettled([...nodes.values()].map(step));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/** A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what StorageTool random-uuid prints). */
function clusterUuid(): string {
  return randomBytes(16).toString('base64url');
}
