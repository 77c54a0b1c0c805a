import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { CommandApiUnderTest, ADMIN_TOKEN } from './command-api.test-support';

/**
 * A request that arrives on a kept-alive connection after shutdown began is refused as every other
 * error is: a 503 problem with Retry-After and the request id (Fastify's own answer is JSON of
 * another shape), while the request in flight finishes.
 */
describe('answers while shutting down', () => {
  it('a request after close() began is a 503 problem; the one in flight completes', async () => {
    let reached!: () => void;
    const held = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const api = await CommandApiUnderTest.start({
      hooks: {
        beforeApply: async () => {
          reached();
          await gate;
        },
      },
    });
    try {
      await api.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = api.app.getHttpServer().address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (c: Buffer) => (received += c.toString('utf8')));
      const ended = new Promise<void>((r) => socket.on('close', () => r()));
      const body = JSON.stringify({ url: 'https://held.example' });
      // A conditional PUT: decided, then held at the hook before it is applied.
      socket.write(
        `PUT /v1/routes/acme/held/prod HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nIf-None-Match: *\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      await held;
      const closed = api.app.close();
      // The same connection, while the PUT is in flight: not idle, so not closed at once.
      socket.write(`GET /v1/routes/acme/held/prod HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN_TOKEN}\r\nX-Request-Id: after-close-1\r\n\r\n`);
      await new Promise((r) => setTimeout(r, 200));
      release();
      await closed;
      await ended;
      const answers = received.split(/(?=HTTP\/1\.1 )/);
      expect(answers[0]).toMatch(/^HTTP\/1\.1 201 /);
      expect(answers[1]).toMatch(/^HTTP\/1\.1 503 /);
      expect(answers[1]).toMatch(/\r\ncontent-type: application\/problem\+json/i);
      expect(answers[1]).toMatch(/\r\nretry-after: 1\r\n/i);
      expect(answers[1]).toMatch(/\r\nx-request-id: after-close-1\r\n/i);
      const problem = JSON.parse(String(answers[1]).split('\r\n\r\n')[1] ?? '') as Record<string, unknown>;
      expect(problem).toMatchObject({ status: 503, title: 'Service Unavailable', requestId: 'after-close-1' });
    } finally {
      release();
      await api.db.end();
      await api.database.drop();
    }
  });
});
