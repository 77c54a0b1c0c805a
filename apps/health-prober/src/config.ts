import { hostname } from 'node:os';
import { IsOptional, IsString, MinLength, registerDecorator } from 'class-validator';
import { DefaultPorts } from '@tm/contracts';
import { BaseAppConfig, IsBooleanFlag, IsIntBetween, IsPort, IsRedisUrl, IsToken } from '@tm/platform';
import { DEFAULT_DENY_CIDRS, denyCidrsProblem } from './probing/deny-list';

function IsDenyCidrs(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isDenyCidrs',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: 'expected comma-separated address/prefix CIDRs (such as 169.254.0.0/16,fe80::/10), or none' },
      validator: { validate: (v: unknown) => typeof v === 'string' && denyCidrsProblem(v) === undefined },
    });
}

function IsHttpUrl(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isHttpUrl',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: "expected the resolver's http(s) base URL, such as http://127.0.0.1:3001" },
      validator: {
        validate: (v: unknown) => {
          if (typeof v !== 'string') return false;
          try {
            const url = new URL(v);
            return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '' && url.search === '' && url.hash === '';
          } catch {
            return false;
          }
        },
      },
    });
}

/** This replica's name in verdicts and the probes' User-Agent: the pod name in Kubernetes. */
function defaultProberId(): string {
  return `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 100);
}

/** Every variable health-prober reads, validated at start (README, "Configuration"). */
export class HealthProberConfig extends BaseAppConfig {
  @IsOptional()
  @IsPort()
  HEALTH_PROBER_PORT: number = DefaultPorts.healthProber;

  @IsRedisUrl()
  REDIS_URL!: string;

  /** Where the prober watches the routes it probes (`GET /v1/watch`). */
  @IsHttpUrl()
  RESOLVER_URL!: string;

  /**
   * A stored key with routes:read on every tenant (no tenant bound): the watch of every route. A
   * secret: never logged, never sent to an endpoint.
   */
  @IsString()
  @MinLength(16, { message: 'expected an API key (at least 16 characters)' })
  PROBER_API_KEY!: string;

  /**
   * Addresses never probed (an endpoint that resolves to one stays unknown): comma-separated CIDRs.
   * Replaces the default list; `none` empties it.
   */
  @IsOptional()
  @IsDenyCidrs()
  PROBE_DENY_CIDRS = DEFAULT_DENY_CIDRS;

  /** Probes in flight at once; a probe due while all are taken waits for one. */
  @IsOptional()
  @IsIntBetween(1, 10_000)
  PROBE_MAX_IN_FLIGHT = 64;

  /** Refuse an https endpoint whose certificate does not verify (false: accept any, as some internal services need). */
  @IsOptional()
  @IsBooleanFlag()
  PROBE_TLS_REJECT_UNAUTHORIZED = true;

  /** This replica's name in its verdicts and its probes' User-Agent (default: host name and pid). */
  @IsOptional()
  @IsToken()
  PROBER_ID: string = defaultProberId();

  /** Prefix of every Redis key; the resolver must use the same. */
  @IsOptional()
  @IsToken()
  CACHE_KEY_PREFIX = 'tm:';

  /** Timeout of one Redis round trip. */
  @IsOptional()
  @IsIntBetween(50, 10_000)
  REDIS_COMMAND_TIMEOUT_MS = 1_000;
}
