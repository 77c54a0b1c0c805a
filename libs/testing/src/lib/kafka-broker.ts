import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { REPO_ROOT } from './env';

const SCRIPT = join(REPO_ROOT, 'tools', 'kafka', 'kafka');

/** A free port in 20000-29999 (below Linux's ephemeral range, 32768-60999), with a gap above it for the controller. */
async function freeLowPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + 2 * Math.floor(Math.random() * 4_900);
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
    child.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`kafka ${command} failed: ${err || out}`))));
  });
}

/**
 * A Kafka broker of a test's own (tools/kafka/kafka with its own folder and port), for tests that
 * stop and start Kafka without disturbing the shared one.
 */
export class TestKafkaBroker {
  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Starts a broker on a port below the ephemeral range (where the apps' and clients' ports come
   * from), so that a port found free is not taken by an outgoing connection before Kafka binds it
   * (the controller takes the next free port above it). A start that still loses that race is
   * tried again on other ports.
   */
  static async start(): Promise<TestKafkaBroker> {
    for (let attempt = 1; ; attempt++) {
      const broker = new TestKafkaBroker(mkdtempSync(join(tmpdir(), 'tm-kafka-')), await freeLowPort());
      try {
        await broker.resume();
        return broker;
      } catch (e) {
        rmSync(broker.dir, { recursive: true, force: true });
        if (attempt >= 3) throw e;
      }
    }
  }

  private get env(): Record<string, string> {
    return { KAFKA_DIR: this.dir, KAFKA_PORT: String(this.port), KAFKA_HEAP_OPTS: '-Xms128m -Xmx384m' };
  }

  /** Stops the broker; its data stays, so `resume()` brings the same topics back. */
  async pause(): Promise<void> {
    await kafka('stop', this.env);
  }

  async resume(): Promise<void> {
    const brokers = await kafka('start', this.env);
    if (!brokers.endsWith(`:${this.port}`)) throw new Error(`the test broker came up on ${brokers}, not port ${this.port}`);
  }

  private pid(): number {
    return Number(readFileSync(join(this.dir, 'kafka.pid'), 'utf8'));
  }

  /** The broker stops answering without closing its connections (SIGSTOP): a hung peer. */
  freeze(): void {
    process.kill(this.pid(), 'SIGSTOP');
  }

  thaw(): void {
    process.kill(this.pid(), 'SIGCONT');
  }

  async stop(): Promise<void> {
    try {
      this.thaw();
    } catch {
      // not running
    }
    await kafka('stop', this.env);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
