import { Injectable, Module, type LoggerService } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { fastifyAdapter, NEST_APP_OPTIONS } from './bootstrap';
import { HealthModule, READINESS_LOG_INTERVAL_MS, ReadinessLog, type ReadinessCheck } from './health';

const SECRET_REASON = 'password authentication failed for user "tm" (password=hunter2-s3cret) at db-primary.internal.corp:5432';

/** A dependency whose check the test sets: it answers, or fails with `failure`. */
@Injectable()
class FlakyDependency implements ReadinessCheck {
  readonly name = 'postgres';
  failure: Error | undefined;

  async check(): Promise<void> {
    if (this.failure) throw this.failure;
  }
}

@Injectable()
class SteadyDependency implements ReadinessCheck {
  readonly name = 'redis';
  async check(): Promise<void> {
    return undefined;
  }
}

@Module({ providers: [FlakyDependency, SteadyDependency], exports: [FlakyDependency, SteadyDependency] })
class DependenciesModule {}

/** Every line logged, as text (what a log sink would hold). */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log(...args: unknown[]): void {
    this.lines.push(`log ${JSON.stringify(args)}`);
  }
  warn(...args: unknown[]): void {
    this.lines.push(`warn ${JSON.stringify(args)}`);
  }
  error(...args: unknown[]): void {
    this.lines.push(`error ${JSON.stringify(args)}`);
  }
}

describe('GET /health/ready', () => {
  let app: NestFastifyApplication;
  let dependency: FlakyDependency;
  const logger = new CapturingLogger();
  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [HealthModule.register({ imports: [DependenciesModule], checks: [FlakyDependency, SteadyDependency] })],
    }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(fastifyAdapter(), NEST_APP_OPTIONS);
    app.useLogger(logger);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    dependency = app.get(FlakyDependency);
  });
  afterAll(() => app.close());

  const ready = () => app.inject({ method: 'GET', url: '/health/ready' });

  it("names the dependency that is down, without its error's text (host, credentials), and logs the text once", async () => {
    dependency.failure = new Error(SECRET_REASON);
    const res = await ready();
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ status: 'error', error: { postgres: { status: 'down' } }, info: { redis: { status: 'up' } } });
    expect(res.json<{ error: Record<string, object> }>().error['postgres']).toEqual({ status: 'down' });
    for (const secret of ['hunter2', 'db-primary', 'internal.corp', 'password', '5432']) expect(res.body).not.toContain(secret);
    // Probed again and again while down: the reason is logged once.
    for (let i = 0; i < 5; i++) expect((await ready()).statusCode).toBe(503);
    const downLines = logger.lines.filter((l) => l.includes('hunter2-s3cret'));
    expect(downLines).toHaveLength(1);
    expect(downLines[0]).toMatch(/^warn .*postgres is down/);

    dependency.failure = undefined;
    expect((await ready()).statusCode).toBe(200);
    expect((await ready()).statusCode).toBe(200);
    expect(logger.lines.filter((l) => l.includes('postgres is up again'))).toHaveLength(1);
    // Down again: a change of state, logged again.
    dependency.failure = new Error(SECRET_REASON);
    expect((await ready()).statusCode).toBe(503);
    expect(logger.lines.filter((l) => l.includes('hunter2-s3cret'))).toHaveLength(2);
  });
});

describe('ReadinessLog', () => {
  it('while a dependency stays down, a new reason is logged at most once per interval', () => {
    let now = 1_000_000;
    const lines: string[] = [];
    const log = new ReadinessLog({ warn: (_fields: unknown, message: string) => lines.push(message), log: (_fields: unknown, message: string) => lines.push(message) }, () => now);
    log.failed('kafka', new Error('connect ECONNREFUSED'));
    log.failed('kafka', new Error('connect ECONNREFUSED'));
    now += 1_000;
    log.failed('kafka', new Error('SASL PLAIN authentication failed'));
    expect(lines).toEqual(['kafka is down: connect ECONNREFUSED']);
    now += READINESS_LOG_INTERVAL_MS;
    log.failed('kafka', new Error('SASL PLAIN authentication failed'));
    log.failed('kafka', new Error('SASL PLAIN authentication failed'));
    log.up('kafka');
    log.up('kafka');
    log.failed('kafka', 'not an Error');
    expect(lines).toEqual(['kafka is down: connect ECONNREFUSED', 'kafka is down: SASL PLAIN authentication failed', 'kafka is up again', 'kafka is down: not an Error']);
  });
});
