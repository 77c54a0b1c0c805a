import {
  Controller,
  Get,
  Inject,
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
  @ApiOperation({ summary: "Readiness: the app's dependencies answer (503 when one does not)", security: [] })
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
      return indicator.up();
    } catch (e) {
      return indicator.down({ message: e instanceof Error ? e.message : String(e) });
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
