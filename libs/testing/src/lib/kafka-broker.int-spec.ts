import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { REPO_ROOT } from './env';
import { TestKafkaBroker } from './kafka-broker';

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

// A node of a cluster is known by its port to its peers (the voters) and to the clients (the
// bootstrap list): started again, it must come back on it, never on the next free one.
describe('a test broker started again', () => {
  it('waits for its port while something still holds it and comes back on it', async () => {
    const broker = await TestKafkaBroker.start();
    let holder: Server | undefined;
    try {
      await broker.pause();
      holder = await listen(broker.port);
      const resumed = broker.resume();
      await new Promise((r) => setTimeout(r, 2_000));
      await close(holder);
      holder = undefined;
      await resumed;
      const admin = new Kafka({ clientId: 'tm-test-port', brokers: [broker.brokers], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        expect(Array.isArray(await admin.listTopics())).toBe(true);
      } finally {
        await admin.disconnect();
      }
    } finally {
      if (holder) await close(holder);
      await broker.stop();
    }
  }, 180_000);

  it('fails naming what holds its port when it stays taken (KAFKA_PORT_EXACT)', async () => {
    const holder = await listen(0);
    const port = (holder.address() as { port: number }).port;
    const dir = mkdtempSync(join(tmpdir(), 'tm-kafka-'));
    try {
      const env = { ...process.env, KAFKA_DIR: dir, KAFKA_PORT: String(port), KAFKA_PORT_EXACT: '1', KAFKA_PORT_WAIT_S: '1' };
      const child = spawn('bash', [join(REPO_ROOT, 'tools', 'kafka', 'kafka'), 'start'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).not.toBe(0);
      expect(out).toContain(`port ${port} is still taken after 1 s`);
      expect(out).toContain(`pid=${process.pid}`);
    } finally {
      await close(holder);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
