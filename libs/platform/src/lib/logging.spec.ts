import { Writable } from 'node:stream';
import { fastify as createFastify, type FastifyInstance } from 'fastify';
import type { RequestLogOptions } from './logging';
import type { LogLevel } from './config';

interface Line {
  level: number;
  app: string;
  msg: string;
  req?: { id: string; method: string; url: string };
  res?: { statusCode: number };
  responseTime?: number;
}

/**
 * nestjs-pino keeps one root logger per process (the first PinoLogger made sets it), as an app
 * process has; each of these apps is an app process of its own, with its own modules.
 */
async function ownModules() {
  let loaded: { nestjsPino: typeof import('nestjs-pino'); logging: typeof import('./logging') } | undefined;
  await jest.isolateModulesAsync(async () => {
    loaded = { nestjsPino: await import('nestjs-pino'), logging: await import('./logging') };
  });
  if (!loaded) throw new Error('modules not loaded');
  return loaded;
}

/** A Fastify app whose request logging writes into `lines`. */
async function appLogging(level: LogLevel, options: RequestLogOptions) {
  const {
    nestjsPino: { PinoLogger },
    logging: { createRootLogger, logRequests, requestIdOf },
  } = await ownModules();
  const lines: Line[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  const root = createRootLogger('test-app', level, sink);
  const inRequest = new PinoLogger({ pinoHttp: { logger: root } });
  const app: FastifyInstance = createFastify({ genReqId: (req) => requestIdOf(req) });
  logRequests(app, root, options);
  app.get('/ok', async () => {
    // What nestjs-pino's PinoLogger does: the request's logger when one is bound, else the root.
    inRequest.logger.info('working on it');
    inRequest.info('nest logger line');
    return { ok: true };
  });
  app.get('/health/live', async () => ({ ok: true }));
  app.get('/fails', async (_request, reply) => reply.status(404).send({ ok: false }));
  await app.ready();
  return { app, lines, settle: () => new Promise((r) => setImmediate(r)) };
}

describe('request logging', () => {
  it('one JSON line per request at info by default, with the request id and never a header', async () => {
    const { app, lines, settle } = await appLogging('info', {});
    await app.inject({ url: '/ok', headers: { 'x-request-id': 'req-1', authorization: 'Bearer very-secret' } });
    await settle();
    const done = lines.find((l) => l.msg === 'request completed');
    expect(done).toMatchObject({ level: 30, app: 'test-app', req: { id: 'req-1', method: 'GET', url: '/ok' }, res: { statusCode: 200 } });
    expect(typeof done?.responseTime).toBe('number');
    expect(JSON.stringify(lines)).not.toContain('very-secret');
    await app.close();
  });

  it('binds the request to every line logged while it is handled (bindContext, the default)', async () => {
    const { app, lines, settle } = await appLogging('info', {});
    await app.inject({ url: '/ok', headers: { 'x-request-id': 'req-2' } });
    await settle();
    expect(lines.find((l) => l.msg === 'working on it')?.req?.id).toBe('req-2');
    expect(lines.find((l) => l.msg === 'nest logger line')?.req?.id).toBe('req-2');
    await app.close();
  });

  it('successLevel debug: successful answers are logged only at LOG_LEVEL=debug; errors always at info', async () => {
    const quiet = await appLogging('info', { successLevel: 'debug', bindContext: false });
    await quiet.app.inject({ url: '/ok', headers: { 'x-request-id': 'req-3' } });
    await quiet.app.inject({ url: '/fails', headers: { 'x-request-id': 'req-4' } });
    await quiet.settle();
    const completed = quiet.lines.filter((l) => l.msg === 'request completed');
    expect(completed.map((l) => [l.level, l.req?.id, l.res?.statusCode])).toEqual([[30, 'req-4', 404]]);
    // Without a bound context the in-request line has no request (it must say what it needs itself).
    const unbound = quiet.lines.find((l) => l.msg === 'working on it');
    expect(unbound).toBeDefined();
    expect(unbound?.req).toBeUndefined();
    await quiet.app.close();

    const verbose = await appLogging('debug', { successLevel: 'debug', bindContext: false });
    await verbose.app.inject({ url: '/ok', headers: { 'x-request-id': 'req-5' } });
    await verbose.settle();
    expect(verbose.lines.find((l) => l.msg === 'request completed')).toMatchObject({ level: 20, req: { id: 'req-5' }, res: { statusCode: 200 } });
    await verbose.app.close();
  });

  it('probes are not logged', async () => {
    const { app, lines, settle } = await appLogging('debug', {});
    await app.inject({ url: '/health/live' });
    await settle();
    expect(lines.filter((l) => l.req?.url === '/health/live')).toEqual([]);
    await app.close();
  });
});
