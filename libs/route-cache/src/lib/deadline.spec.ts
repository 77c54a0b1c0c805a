import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { RedisTimeoutError, withDeadline } from './deadline';

/** Keeps the event loop busy, as a process under load does. */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spin
  }
}

describe('withDeadline', () => {
  afterEach(() => jest.restoreAllMocks());

  it('passes a value or an error through; a prompt answer never even arms a timer', async () => {
    const setTimer = jest.spyOn(global, 'setTimeout');
    await expect(withDeadline(Promise.resolve(7), 100)).resolves.toBe(7);
    await expect(withDeadline(Promise.reject(new Error('boom')), 100)).rejects.toThrow('boom');
    await new Promise((r) => setImmediate(r));
    expect(setTimer).not.toHaveBeenCalled();
  });

  it('rejects with RedisTimeoutError when no answer comes', async () => {
    const started = Date.now();
    const bounded = withDeadline(new Promise<number>(() => undefined), 30);
    await expect(bounded).rejects.toBeInstanceOf(RedisTimeoutError);
    await expect(bounded).rejects.toThrow('Redis did not answer within 30 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(29);
  });

  it('0 means no limit', () => {
    const work = Promise.resolve(1);
    expect(withDeadline(work, 0)).toBe(work);
  });

  describe('with a peer on a socket (an echo server on a thread of its own, as Redis would be)', () => {
    let peer: Worker;
    let client: Socket;
    /** How many replies the peer has written (to the kernel): this thread can wait for one while busy. */
    const echoes = new Int32Array(new SharedArrayBuffer(4));
    /** Blocks this thread, as busy work does, until the peer has written its next reply. */
    function busyUntilEchoed(before: number): void {
      if (Atomics.wait(echoes, 0, before, 10_000) === 'timed-out') throw new Error('the peer did not echo within 10 s');
    }
    beforeAll(async () => {
      peer = new Worker(
        `const { createServer } = require('node:net');
         const { parentPort, workerData } = require('node:worker_threads');
         const echoed = new Int32Array(workerData);
         const server = createServer((s) => {
           s.on('error', () => undefined);
           s.on('data', (d) => s.write(d, () => { Atomics.add(echoed, 0, 1); Atomics.notify(echoed, 0); }));
         });
         server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));`,
        { eval: true, workerData: echoes.buffer },
      );
      const [port] = (await once(peer, 'message')) as [number];
      client = connect(port, '127.0.0.1');
      await once(client, 'connect');
    });
    afterAll(async () => {
      client.destroy();
      await peer.terminate();
    });

    it('a reply that arrived while this process was busy wins over the timer', async () => {
      const reply = once(client, 'data').then(([d]) => String(d));
      const bounded = withDeadline(reply, 20);
      await new Promise((r) => setImmediate(r)); // the clock has started
      const before = Atomics.load(echoes, 0);
      client.write('pong');
      // Busy until the peer's reply is in this socket's buffer, however loaded the machine, and then
      // until the timer is due: this process reads the reply only after that.
      busyUntilEchoed(before);
      busy(40);
      await expect(bounded).resolves.toBe('pong');
    });

    it('time this process spends busy before the command is written does not count', async () => {
      const reply = once(client, 'data').then(([d]) => String(d));
      setImmediate(() => client.write('ping')); // node-redis writes what a tick issued from a setImmediate
      // A deadline far above the peer's echo even on a loaded machine, and busier than it.
      const bounded = withDeadline(reply, 1_000);
      busy(1_500); // issued, then busy: the command is not even written yet
      await expect(bounded).resolves.toBe('ping');
    });
  });
});
