import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from 'redis';
import { freePort } from './processes';

const run = promisify(execFile);

/** A plain RESP2 connection to one node. */
function connectNode(port: number) {
  return createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false, connectTimeout: 5_000 }, RESP: 2 });
}
type NodeConnection = ReturnType<typeof connectNode>;

interface ClusterNode {
  port: number;
  busPort: number;
  dir: string;
  child?: ChildProcess;
  /** A slot it served as a master when it was killed. */
  servedSlot?: number;
}

export interface TestRedisClusterOptions {
  /** Masters (default 3); each gets `replicas` replicas (default 1). */
  masters?: number;
  replicas?: number;
  /** cluster-node-timeout: how long a silent master takes to be failed over (default 1000 ms). */
  nodeTimeoutMs?: number;
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeInfo {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** The master's id, for a replica. */
  masterId?: string;
  failed: boolean;
  slots: [number, number][];
}

/**
 * A Redis Cluster of a test's own: `redis-server --cluster-enabled yes` nodes on free loopback
 * ports (and bus ports), each in its own folder of one temporary directory, without persistence,
 * joined by `redis-cli --cluster create`. A test can SIGKILL a master, wait for its replica's
 * promotion, restart the old node (it comes back empty and rejoins as a replica) and freeze a node
 * (SIGSTOP) to make a failover lose the writes it had not replicated. Never touches another Redis.
 */
export class TestRedisCluster {
  private readonly connections = new Map<number, Promise<NodeConnection>>();

  private constructor(
    private readonly root: string,
    private readonly nodes: ClusterNode[],
    private readonly nodeTimeoutMs: number,
  ) {}

  /** REDIS_URL for the apps: the seed nodes (all of them). */
  get url(): string {
    return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
  }

  get ports(): number[] {
    return this.nodes.map((n) => n.port);
  }

  static async start(options: TestRedisClusterOptions = {}): Promise<TestRedisCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicas ?? 1;
    const root = await mkdtemp(join(tmpdir(), 'tm-redis-cluster-'));
    const nodes: ClusterNode[] = [];
    const used = new Set<number>();
    const port = async () => {
      for (;;) {
        const p = await freePort();
        if (!used.has(p)) return used.add(p), p;
      }
    };
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const p = await port();
      nodes.push({ port: p, busPort: await port(), dir: join(root, String(p)) });
    }
    const cluster = new TestRedisCluster(root, nodes, options.nodeTimeoutMs ?? 1_000);
    try {
      for (const node of nodes) await mkdir(node.dir, { recursive: true });
      await Promise.all(nodes.map((n) => cluster.spawn(n)));
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], {
        timeout: 30_000,
      });
      await cluster.waitForState((view) => view.length === nodes.length && view.filter((n) => n.role === 'master' && n.slots.length > 0).length === masters);
      return cluster;
    } catch (e) {
      await cluster.stop();
      throw e;
    }
  }

  private async spawn(node: ClusterNode): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--port', String(node.port),
        '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes',
        '--cluster-port', String(node.busPort),
        '--cluster-config-file', join(node.dir, 'nodes.conf'),
        '--cluster-node-timeout', String(this.nodeTimeoutMs),
        // A replica is promoted however long it was cut off (tests force lagging failovers).
        '--cluster-replica-validity-factor', '0',
        '--dir', node.dir,
        '--save', '',
        '--appendonly', 'no',
      ],
      { stdio: 'ignore' },
    );
    node.child = child;
    // Generous: on a loaded machine a first connection alone can take seconds.
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${node.port} exited with ${child.exitCode}`);
      try {
        await this.command(node.port, ['PING']);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${node.port}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /** One command on one node (a connection per node, kept until it fails). */
  async command(port: number, args: string[]): Promise<string> {
    let client = this.connections.get(port);
    if (!client) {
      const fresh = connectNode(port);
      fresh.on('error', () => undefined);
      client = fresh.connect().then(() => fresh);
      this.connections.set(port, client);
    }
    const connection = client;
    try {
      return String(await (await connection).sendCommand(args));
    } catch (e) {
      this.connections.delete(port);
      void connection.then((c) => c.destroy()).catch(() => undefined);
      throw e;
    }
  }

  private node(port: number): ClusterNode {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node on port ${port}`);
    return node;
  }

  private running(): ClusterNode[] {
    return this.nodes.filter((n) => n.child && n.child.exitCode === null && n.child.signalCode === null);
  }

  /** The cluster as one running node sees it (CLUSTER NODES). */
  async view(port = this.running()[0]?.port): Promise<ClusterNodeInfo[]> {
    if (port === undefined) throw new Error('no node is running');
    const text = await this.command(port, ['CLUSTER', 'NODES']);
    return text
      .trim()
      .split('\n')
      .map((line) => {
        const [id = '', address = '', flags = '', master = '-', , , , , ...slots] = line.split(' ');
        return {
          id,
          port: Number(/:(\d+)@/.exec(address)?.[1]),
          role: flags.includes('master') ? ('master' as const) : ('replica' as const),
          ...(master !== '-' ? { masterId: master } : {}),
          failed: /fail/.test(flags),
          slots: slots
            .filter((s) => !s.startsWith('['))
            .map((s) => {
              const [a, b] = s.split('-').map(Number) as [number, number?];
              return [a, b ?? a] as [number, number];
            }),
        };
      });
  }

  /** Waits until every running node reports cluster_state:ok and `check` holds for their views. */
  async waitForState(check: (view: ClusterNodeInfo[]) => boolean, timeoutMs = 30_000): Promise<ClusterNodeInfo[]> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      try {
        const views = await Promise.all(
          this.running().map(async (n) => {
            const info = await this.command(n.port, ['CLUSTER', 'INFO']);
            if (!/cluster_state:ok/.test(info)) throw new Error(`node ${n.port}: ${/cluster_state:\w+/.exec(info)?.[0]}`);
            return this.view(n.port);
          }),
        );
        if (views.every(check)) return views[0] as ClusterNodeInfo[];
        last = 'the nodes do not agree yet';
      } catch (e) {
        last = e instanceof Error ? e.message : String(e);
      }
      if (Date.now() > deadline) throw new Error(`the Redis cluster did not settle: ${last}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The port of the master serving a key's slot now. */
  async masterOf(key: string): Promise<number> {
    const running = this.running()[0];
    if (!running) throw new Error('no node is running');
    const slot = Number(await this.command(running.port, ['CLUSTER', 'KEYSLOT', key]));
    const owner = (await this.view()).find((n) => n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
    if (!owner) throw new Error(`no master serves slot ${slot}`);
    return owner.port;
  }

  /** The port of a master's replica. */
  async replicaOf(masterPort: number): Promise<number> {
    const view = await this.view();
    const master = view.find((n) => n.port === masterPort);
    const replica = view.find((n) => n.masterId === master?.id && !n.failed);
    if (!replica) throw new Error(`the master on ${masterPort} has no replica`);
    return replica.port;
  }

  /** Waits until a replica has every write its master had when this was called. */
  async waitForReplication(masterPort: number, replicaPort: number, timeoutMs = 10_000): Promise<void> {
    const offset = (info: string, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1);
    const target = offset(await this.command(masterPort, ['INFO', 'replication']), 'master_repl_offset');
    const deadline = Date.now() + timeoutMs;
    while (offset(await this.command(replicaPort, ['INFO', 'replication']), 'slave_repl_offset') < target) {
      if (Date.now() > deadline) throw new Error(`the replica on ${replicaPort} did not catch up with ${masterPort}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGKILL of one node: its data (none is persisted) is gone with it. */
  async kill(port: number): Promise<void> {
    const node = this.node(port);
    const child = node.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const self = (await this.view(port).catch(() => [])).find((n) => n.port === port);
    if (self?.role === 'master' && self.slots[0]) node.servedSlot = self.slots[0][0];
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const connection = this.connections.get(port);
    this.connections.delete(port);
    void connection?.then((c) => c.destroy()).catch(() => undefined);
  }

  /** SIGSTOP / SIGCONT: a frozen node neither answers nor reads (what its peers send waits in its socket). */
  freeze(port: number): void {
    this.node(port).child?.kill('SIGSTOP');
  }

  /**
   * Cuts a master off its replicas: the replica is frozen and its replication link closed by the
   * master, so the writes that follow never reach it (they would otherwise wait in its socket and
   * be read when it thaws). `thaw(replica)` after killing the master makes a failover lose them.
   */
  async detachReplica(masterPort: number, replicaPort: number): Promise<void> {
    await this.waitForReplication(masterPort, replicaPort);
    this.freeze(replicaPort);
    await this.command(masterPort, ['CLIENT', 'KILL', 'TYPE', 'replica']);
  }

  thaw(port: number): void {
    this.node(port).child?.kill('SIGCONT');
  }

  /**
   * After a master was killed: waits until another node is the master of its slots and every
   * running node says the cluster is ok; returns the new master's port.
   */
  async waitForPromotion(oldMasterPort: number, timeoutMs = 30_000): Promise<number> {
    const slot = this.node(oldMasterPort).servedSlot;
    if (slot === undefined) throw new Error(`the node on ${oldMasterPort} was not a master when it was killed`);
    const owner = (view: ClusterNodeInfo[]) =>
      view.find((n) => n.port !== oldMasterPort && n.role === 'master' && !n.failed && n.slots.some(([a, b]) => slot >= a && slot <= b));
    const view = await this.waitForState((v) => owner(v) !== undefined, timeoutMs);
    return (owner(view) as ClusterNodeInfo).port;
  }

  /**
   * Starts a killed node again, empty (nothing is persisted) with its cluster configuration: a
   * master that was failed over rejoins as a replica of its successor. Waits until it is a replica
   * whose link to its master is up.
   */
  async restart(port: number): Promise<void> {
    await this.spawn(this.node(port));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const info = await this.command(port, ['INFO', 'replication']).catch(() => '');
      if (/role:slave/.test(info) && /master_link_status:up/.test(info)) break;
      if (Date.now() > deadline) throw new Error(`the node on ${port} did not rejoin as a replica`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.waitForState((view) => view.every((n) => !n.failed));
  }

  /** Stops every node and removes the temporary directory. */
  async stop(): Promise<void> {
    for (const client of this.connections.values()) void client.then((c) => c.destroy()).catch(() => undefined);
    this.connections.clear();
    for (const node of this.nodes) {
      this.thaw(node.port);
      await this.kill(node.port);
    }
    await rm(this.root, { recursive: true, force: true });
  }
}
