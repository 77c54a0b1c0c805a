import { hostname } from 'node:os';
import { IsOptional, IsString, MinLength, registerDecorator } from 'class-validator';
import { DefaultPorts } from '@tm/contracts';
import { BaseAppConfig, IsBooleanFlag, IsIntBetween, IsPort, IsRedisUrl, IsToken } from '@tm/platform';
import { isCidrList } from './probing/address-rules';

function IsCidrList(): PropertyDecorator {
  return (target: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isCidrList',
      target: target.constructor,
      propertyName: String(propertyName),
      options: { message: 'expected comma-separated address/prefix CIDRs in plain notation (such as 10.0.0.0/8,fd00::/8), or empty' },
      validator: { validate: isCidrList },
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

/** Every variable health-prober reads, validated at start (docs/configuration.md). */
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
   * Addresses refused besides those always refused (unspecified, link-local, metadata) and
   * loopback: comma-separated CIDRs; empty or `none`: no more. An endpoint that resolves to one
   * stays unknown.
   */
  @IsOptional()
  @IsCidrList()
  PROBE_DENY_CIDRS = '';

  /** When set, probes go only to addresses in these comma-separated CIDRs (the refusals above still apply); empty: no limit. */
  @IsOptional()
  @IsCidrList()
  PROBE_ALLOW_CIDRS = '';

  /** Probe loopback addresses (127.0.0.0/8, ::1): for a development machine only (npm start sets it). */
  @IsOptional()
  @IsBooleanFlag()
  PROBE_ALLOW_LOOPBACK = false;

  /** Probes in flight at once, shared fairly between tenants (each at most its share); a probe due while its share is taken waits. */
  @IsOptional()
  @IsIntBetween(1, 10_000)
  PROBE_MAX_IN_FLIGHT = 64;

  /** The longest a probe may take, whatever its health check says (a longer stored timeout is probed with this one). */
  @IsOptional()
  @IsIntBetween(1, 3_600)
  PROBE_MAX_TIMEOUT_SECONDS = 10;

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
