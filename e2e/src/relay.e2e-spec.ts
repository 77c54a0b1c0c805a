import { CloudEvent } from 'cloudevents';
import { TestKafkaBroker, TestStack, TopicReader } from '@tm/testing';
import { eventually, metric, orderViolations, parsed, query, revisions, write } from './support';

const ROUTES = ['acme/web/prod', 'acme/web/staging', 'acme/api/prod', 'globex/api/prod', 'globex/db/prod', 'initech/tps/prod'];

/**
 * Writes `n` changes spread over ROUTES, six at a time (every eleventh a delete); returns the
 * revisions of the writes that changed something. A delete of an absent route is a 404; nothing
 * may fail otherwise.
 */
async function writeMany(stack: TestStack, n: number, tag: string): Promise<number[]> {
  const answered: number[] = [];
  for (let i = 0; i < n; i += 6) {
    const batch = await Promise.all(
      ROUTES.slice(0, Math.min(6, n - i)).map(async (route, j) => {
        const deleting = (i + j) % 11 === 10;
        const res = await write(stack.app('command-api'), route, deleting ? null : `https://${tag}-${i + j}.example/`);
        expect([200, 201, 204, ...(deleting ? [404] : [])]).toContain(res.status);
        return res;
      }),
    );
    for (const b of batch) if (b.status < 300) answered.push(b.revision);
  }
  return answered;
}

async function outboxRevisions(stack: TestStack): Promise<number[]> {
  const rows = await query<{ revision: number }>(stack.environment.database.url, 'SELECT revision::int FROM outbox ORDER BY revision');
  return rows.map((r) => r.revision);
}

describe('outbox relay (processes, real PostgreSQL and Kafka)', () => {
  describe('publishing', () => {
    let stack: TestStack;
    let reader: TopicReader;
    beforeAll(async () => {
      stack = await TestStack.start({ apps: ['command-api', 'outbox-relay'], env: { KAFKA_TOPIC_PARTITIONS: '3' } });
    }, 120_000);
    afterAll(async () => {
      await reader?.stop();
      await stack?.stop();
    });

    it('every write reaches the topic, in revision order per key, as valid CloudEvents keyed by route', async () => {
      await writeMany(stack, 60, 'a');
      const expected = await outboxRevisions(stack);
      await eventually(async () => (await metric(stack.app('outbox-relay'), 'tm_relay_published_total')) === expected.length, 20_000, 'all published');
      reader = await TopicReader.start(stack.environment.topic);
      const messages = await reader.waitFor((m) => revisions(m).size >= expected.length);
      expect([...revisions(messages)].sort((a, b) => a - b)).toEqual(expected);
      expect(orderViolations(messages)).toEqual([]);
      for (const m of messages) {
        const value = JSON.parse(m.value) as Record<string, unknown>;
        expect(new CloudEvent(value as never, true).validate()).toBe(true);
        expect(value['subject']).toBe(m.key);
        expect(m.headers['content-type']).toBe('application/cloudevents+json');
      }
      const keys = new Set(messages.map((m) => m.key));
      expect(keys).toEqual(new Set(ROUTES));
      const unpublished = await query<{ n: number }>(stack.environment.database.url, 'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL');
      expect(unpublished).toEqual([{ n: 0 }]);
    });

    it('reports itself as the leader and an empty backlog', async () => {
      expect(await metric(stack.app('outbox-relay'), 'tm_relay_leader')).toBe(1);
      expect(await metric(stack.app('outbox-relay'), 'tm_outbox_backlog_rows')).toBe(0);
    });
  });

  describe('a relay killed between the acknowledgement and the mark', () => {
    let stack: TestStack;
    let reader: TopicReader;
    beforeAll(async () => {
      stack = await TestStack.start({ apps: ['command-api'] });
    }, 120_000);
    afterAll(async () => {
      await reader?.stop();
      await stack?.stop();
    });

    it('publishes the batch again on restart: nothing lost, duplicates carry the same event id', async () => {
      const answered = await writeMany(stack, 30, 'k');
      const relay = await stack.restart('outbox-relay', { RELAY_BATCH_SIZE: '10', RELAY_PAUSE_BEFORE_MARK_MS: '5000' });
      await eventually(() => relay.output.some((l) => l.includes('pausing 5000 ms before marking')), 20_000, 'a batch acknowledged');
      await relay.kill();
      const marked = await query<{ n: number }>(stack.environment.database.url, 'SELECT count(*)::int AS n FROM outbox WHERE published_at IS NOT NULL');
      expect(marked).toEqual([{ n: 0 }]);

      await stack.restart('outbox-relay', { RELAY_BATCH_SIZE: '10' });
      reader = await TopicReader.start(stack.environment.topic);
      const messages = await reader.waitFor((m) => revisions(m).size >= answered.length);
      expect([...revisions(messages)].sort((a, b) => a - b)).toEqual((await outboxRevisions(stack)));
      const events = parsed(messages);
      expect(events.length).toBeGreaterThan(answered.length);
      const idsByRevision = new Map<number, Set<string>>();
      for (const e of events) idsByRevision.set(e.revision, (idsByRevision.get(e.revision) ?? new Set()).add(e.id));
      for (const ids of idsByRevision.values()) expect(ids.size).toBe(1);
      expect(orderViolations(messages)).toEqual([]);
    });
  });

  describe('two relays', () => {
    let stack: TestStack;
    let reader: TopicReader;
    beforeAll(async () => {
      stack = await TestStack.start({ apps: ['command-api'] });
    }, 120_000);
    afterAll(async () => {
      await reader?.stop();
      await stack?.stop();
    });

    it('one publishes, the other stands by and takes over when the leader is killed; per-key order holds', async () => {
      const first = await stack.restart('outbox-relay', { RELAY_ID: 'relay-a', RELAY_STANDBY_RETRY_MS: '200' });
      await eventually(async () => (await metric(first, 'tm_relay_leader')) === 1, 10_000, 'relay-a leads');
      const second = await stack.startExtra('outbox-relay', { RELAY_ID: 'relay-b', RELAY_STANDBY_RETRY_MS: '200' });
      expect(await metric(second, 'tm_relay_leader')).toBe(0);

      await writeMany(stack, 30, 'before');
      const beforeKill = (await outboxRevisions(stack)).length;
      await eventually(async () => (await metric(first, 'tm_relay_published_total')) === beforeKill, 20_000, 'relay-a published');
      expect(await metric(second, 'tm_relay_published_total')).toBe(0);

      await first.kill();
      const writing = writeMany(stack, 30, 'during');
      const killedAt = Date.now();
      await eventually(async () => (await metric(second, 'tm_relay_leader')) === 1, 10_000, 'relay-b takes over');
      const takeover = Date.now() - killedAt;
      expect(takeover).toBeLessThan(10_000);
      await writing;
      const expected = await outboxRevisions(stack);
      reader = await TopicReader.start(stack.environment.topic);
      const messages = await reader.waitFor((m) => revisions(m).size >= expected.length);
      expect([...revisions(messages)].sort((a, b) => a - b)).toEqual(expected);
      expect(orderViolations(messages)).toEqual([]);
      expect(second.output.some((l) => l.includes('relay-b is the leader'))).toBe(true);
    });
  });

  describe('Kafka stopped while writes continue', () => {
    let stack: TestStack;
    let broker: TestKafkaBroker;
    let reader: TopicReader;
    beforeAll(async () => {
      broker = await TestKafkaBroker.start();
      stack = await TestStack.start({
        apps: ['command-api', 'outbox-relay'],
        env: { KAFKA_BROKERS: broker.brokers, RELAY_MAX_BACKOFF_MS: '1000' },
      });
    }, 120_000);
    afterAll(async () => {
      await reader?.stop();
      await stack?.stop();
      await broker?.stop();
    });

    it('writes keep succeeding; when Kafka is back the backlog arrives, in order', async () => {
      await writeMany(stack, 12, 'up');
      await eventually(async () => (await metric(stack.app('outbox-relay'), 'tm_outbox_backlog_rows')) === 0, 20_000, 'first writes published');
      await broker.pause();
      const during = await writeMany(stack, 30, 'down');
      expect(during.length).toBeGreaterThan(20);
      await eventually(async () => ((await metric(stack.app('outbox-relay'), 'tm_outbox_backlog_rows')) ?? 0) > 0, 10_000, 'a backlog');
      await broker.resume();
      const expected = await outboxRevisions(stack);
      reader = await TopicReader.start(stack.environment.topic, broker.brokers);
      const messages = await reader.waitFor((m) => revisions(m).size >= expected.length, 60_000);
      expect([...revisions(messages)].sort((a, b) => a - b)).toEqual(expected);
      expect(orderViolations(messages)).toEqual([]);
      await eventually(async () => (await metric(stack.app('outbox-relay'), 'tm_outbox_backlog_rows')) === 0, 20_000, 'backlog drained');
      // A broker stopped and started again takes most of a minute on a loaded 2-core machine.
    }, 120_000);
  });

  describe('Kafka frozen (it stops answering) while writes continue', () => {
    let stack: TestStack;
    let broker: TestKafkaBroker;
    let reader: TopicReader;
    beforeAll(async () => {
      broker = await TestKafkaBroker.start();
      stack = await TestStack.start({
        apps: ['command-api', 'outbox-relay'],
        env: { KAFKA_BROKERS: broker.brokers, RELAY_MAX_BACKOFF_MS: '1000', SHUTDOWN_TIMEOUT_MS: '5000' },
      });
    }, 120_000);
    afterAll(async () => {
      await reader?.stop();
      await stack?.stop();
      await broker?.stop();
    });

    it('publishing resumes when Kafka answers again (sends that timed out are retried by a new producer)', async () => {
      await writeMany(stack, 6, 'warm');
      await eventually(async () => (await metric(stack.app('outbox-relay'), 'tm_outbox_backlog_rows')) === 0, 20_000, 'warm writes published');
      broker.freeze();
      try {
        await writeMany(stack, 12, 'frozen');
        await eventually(async () => ((await metric(stack.app('outbox-relay'), 'tm_relay_errors_total')) ?? 0) > 0, 40_000, 'a failed send');
      } finally {
        broker.thaw();
      }
      await writeMany(stack, 6, 'thawed');
      await eventually(async () => (await metric(stack.app('outbox-relay'), 'tm_outbox_backlog_rows')) === 0, 60_000, 'backlog drained after the thaw');
      const expected = await outboxRevisions(stack);
      reader = await TopicReader.start(stack.environment.topic, broker.brokers);
      const messages = await reader.waitFor((m) => revisions(m).size >= expected.length, 60_000);
      expect([...revisions(messages)].sort((a, b) => a - b)).toEqual(expected);
      expect(orderViolations(messages)).toEqual([]);
    }, 180_000);

    it('SIGTERM while a send hangs on a frozen Kafka still exits 0 within the shutdown timeout', async () => {
      broker.freeze();
      try {
        await writeMany(stack, 6, 'hang');
        await new Promise((r) => setTimeout(r, 500));
        expect(await stack.app('outbox-relay').stop()).toEqual({ code: 0, signal: null });
      } finally {
        broker.thaw();
      }
    }, 60_000);
  });
});
