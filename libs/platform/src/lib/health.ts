import {
  Controller,
  Get,
  Inject,
  Logger,
  Module,
  Res,
  ServiceUnavailableException,
  type DynamicModule,
  type ModuleMetadata,
  type Type,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  HealthIndicatorService,
  TerminusModule,
  type HealthCheckResult,
  type HealthIndicatorResult,
} from '@nestjs/terminus';

/** A dependency the app needs to do its work (PostgreSQL, Redis, Kafka). */
export interface ReadinessCheck {
  /** The key in the health answer: `postgres`, `redis`, `kafka`. */
  readonly name: string;
  /** Resolves when the dependency answers; rejects (soon: use a timeout) when it does not. */
  check(): Promise<void>;
}

const READINESS_CHECKS = Symbol('READINESS_CHECKS');

/** While a dependency stays down, a new reason for it is logged at most this often. */
export const READINESS_LOG_INTERVAL_MS = 60_000;

/**
 * What readiness logs: a dependency going down (with its error's text, which the answer never
 * carries: host names, authentication failures), and coming back. Probes come every few seconds:
 * a dependency that stays down is not logged again, unless its reason changes, and then at most
 * once per READINESS_LOG_INTERVAL_MS.
 */
export class ReadinessLog {
  private readonly down = new Map<string, { reason: string; loggedAt: number }>();

  constructor(
    private readonly logger: Pick<Logger, 'warn' | 'log'> = new Logger('Readiness'),
    private readonly now: () => number = Date.now,
  ) {}

  up(name: string): void {
    if (!this.down.delete(name)) return;
    this.logger.log({ dependency: name }, `${name} is up again`);
  }

  failed(name: string, error: unknown): void {
    const reason = error instanceof Error ? error.message : String(error);
    const held = this.down.get(name);
    const now = this.now();
    if (held && (held.reason === reason || now - held.loggedAt < READINESS_LOG_INTERVAL_MS)) return;
    this.down.set(name, { reason, loggedAt: now });
    this.logger.warn({ dependency: name, reason }, `${name} is down: ${reason}`);
  }
}

/** Rejects when `work` takes longer than `ms`. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

@ApiTags('operations')
@Controller('health')
class HealthController {
  private readonly log = new ReadinessLog();

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(READINESS_CHECKS) private readonly checks: ReadinessCheck[],
  ) {}

  @Get('live')
  // Probes carry no key: public (an empty security requirement overrides the document's bearer one).
  @ApiOperation({ summary: 'Liveness: the process answers', security: [] })
  @HealthCheck()
  live(): Promise<HealthCheckResult> {
    return this.health.check([]);
  }

  @Get('ready')
  @ApiOperation({ summary: "Readiness: the app's dependencies answer (503 naming each one that does not as down; why is in the log)", security: [] })
  @HealthCheck()
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    try {
      return await this.health.check(this.checks.map((c) => () => this.run(c)));
    } catch (e) {
      // Terminus answers "not ready" with a 503 exception; probes want its per-dependency body as is.
      if (!(e instanceof ServiceUnavailableException)) throw e;
      void reply.status(503);
      return e.getResponse() as HealthCheckResult;
    }
  }

  private async run(readiness: ReadinessCheck): Promise<HealthIndicatorResult> {
    const indicator = this.indicators.check(readiness.name);
    try {
      await readiness.check();
      this.log.up(readiness.name);
      return indicator.up();
    } catch (e) {
      this.log.failed(readiness.name, e);
      // The name and `down` only: the answer is public, the reason goes to the log.
      return indicator.down();
    }
  }
}

export interface HealthOptions {
  /** Modules that provide the checks. */
  imports?: ModuleMetadata['imports'];
  checks: Type<ReadinessCheck>[];
}

/** `GET /health/live` and `GET /health/ready` (terminus). */
@Module({})
export class HealthModule {
  static register(options: HealthOptions): DynamicModule {
    return {
      module: HealthModule,
      imports: [TerminusModule.forRoot({ logger: false }), ...(options.imports ?? [])],
      controllers: [HealthController],
      providers: [
        {
          provide: READINESS_CHECKS,
          useFactory: (...checks: ReadinessCheck[]) => checks,
          inject: options.checks,
        },
      ],
    };
  }
}
