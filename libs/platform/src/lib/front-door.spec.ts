import type { IncomingMessage, ServerResponse } from 'node:http';
import { inject } from 'light-my-request';
import { FrontDoor } from './front-door';

/** Fastify's part, as the door sees it: whatever reaches it is answered 299. */
function framework(_request: IncomingMessage, response: ServerResponse): void {
  response.writeHead(299, { 'content-type': 'text/plain' });
  response.end('framework');
}

describe('FrontDoor', () => {
  it('lets its handler answer, and hands the rest to the framework', async () => {
    const door = new FrontDoor(framework);
    door.use((request, response) => {
      if (request.url !== '/fast') return false;
      response.end('front');
      return true;
    });
    expect((await inject(door.listener, { url: '/fast' })).payload).toBe('front');
    expect((await inject(door.listener, { url: '/slow' })).statusCode).toBe(299);
    door.closing = true;
    expect((await inject(door.listener, { url: '/fast' })).statusCode).toBe(299);
  });

  it('a handler that throws before answering: the framework answers, and the failure is reported', async () => {
    const door = new FrontDoor(framework);
    const failures: unknown[] = [];
    door.failed = (e) => failures.push(e);
    door.use(() => {
      throw new Error('boom');
    });
    const res = await inject(door.listener, { url: '/fast' });
    expect([res.statusCode, res.payload]).toEqual([299, 'framework']);
    expect(failures).toEqual([new Error('boom')]);
  });

  it('a handler that throws after its headers went out: the connection is cut, not answered twice', async () => {
    let reachedFramework = false;
    const tracked = new FrontDoor((request, response) => {
      reachedFramework = true;
      framework(request, response);
    });
    tracked.use((_request, response) => {
      response.writeHead(200);
      response.write('partial');
      throw new Error('late');
    });
    await inject(tracked.listener, { url: '/fast' }).catch(() => undefined);
    expect(reachedFramework).toBe(false);
  });
});
