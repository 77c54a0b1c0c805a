import 'reflect-metadata';
import { plainToInstance, type ClassConstructor } from 'class-transformer';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import {
  registerDecorator,
  validateSync,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateIf,
  type ValidationError,
  type ValidationOptions,
} from 'class-validator';
import { Transform, Type } from 'class-transformer';
import { parseRedisUrl } from './redis-url';

/** A bad or missing configuration value; the message is one line naming the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Validates environment variables into an instance of `cls`. Throws ConfigError whose message is
 * one line: the variable and what is expected. Values are never echoed: some are secrets.
 */
export function validateConfig<T extends object>(cls: ClassConstructor<T>, env: Record<string, unknown>): T {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const config = plainToInstance(cls, present, { exposeDefaultValues: true });
  const errors = validateSync(config, { skipMissingProperties: false, forbidUnknownValues: false });
  if (errors.length > 0) throw new ConfigError(describe(errors[0] as ValidationError));
  return config;
}

function describe(error: ValidationError): string {
  const messages = Object.values(error.constraints ?? {});
  const missing = error.value === undefined;
  if (missing) return `${error.property} is required: ${messages[messages.length - 1] ?? 'a value is expected'}`;
  return `${error.property} is invalid: ${messages[0] ?? 'unexpected value'}`;
}

function urlWithProtocols(protocols: string[], value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return protocols.includes(url.protocol) && url.hostname !== '';
  } catch {
    return false;
  }
}

/** A validation rule of one value, as a decorator factory: `message` says what is expected. */
export function stringRule(name: string, message: string, test: (value: unknown) => boolean) {
  return (options?: ValidationOptions) =>
    (target: object, propertyName: string): void =>
      registerDecorator({
        name,
        target: target.constructor,
        propertyName,
        options: { message, ...options },
        validator: { validate: test },
      });
}

export const IsPostgresUrl = stringRule(
  'isPostgresUrl',
  'expected a postgres:// URL such as postgres://user@127.0.0.1:5432/traffic_manager',
  (v) => urlWithProtocols(['postgres:', 'postgresql:'], v),
);

/**
 * A list of postgres:// URLs separated by commas (DATABASE_READ_URL): node-postgres takes one host per
 * URL, so a comma never belongs to one (a password holding one is percent-encoded); blanks around
 * them are ignored. Undefined when the list is empty or one of them is not a postgres URL.
 */
export function postgresUrlList(value: unknown): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  const urls = value
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  return urls.length > 0 && urls.every((u) => urlWithProtocols(['postgres:', 'postgresql:'], u)) ? urls : undefined;
}

export const IsPostgresUrlList = stringRule(
  'isPostgresUrlList',
  'expected one or more postgres:// URLs separated by commas, such as postgres://user@replica-1:5432/traffic_manager,postgres://user@replica-2:5432/traffic_manager',
  (v) => postgresUrlList(v) !== undefined,
);

export const IsRedisUrl = stringRule(
  'isRedisUrl',
  'expected a redis:// or rediss:// URL such as redis://127.0.0.1:6379, or a cluster as redis+cluster://host:port,host:port (rediss+cluster:// for TLS)',
  (v) => parseRedisUrl(v) !== undefined,
);

/** `host:port[,host:port...]`. */
export const IsBrokerList = stringRule(
  'isBrokerList',
  'expected a comma-separated list of host:port, such as 127.0.0.1:9092',
  (v) =>
    typeof v === 'string' &&
    v.split(',').every((b) => {
      const m = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(b.trim());
      return m !== null && Number(m[2]) > 0 && Number(m[2]) < 65536;
    }),
);

/** A Kafka topic name, a Redis key prefix or similar: printable, no spaces. */
export const IsToken = stringRule('isToken', 'expected letters, digits and . _ : - only', (v) =>
  typeof v === 'string' ? /^[A-Za-z0-9._:-]{1,200}$/.test(v) : false,
);

/** `true` or `false` (any case). */
export function IsBooleanFlag(): PropertyDecorator {
  return (target, key) => {
    Transform(({ value }: { value: unknown }) => {
      if (typeof value !== 'string') return value;
      const v = value.trim().toLowerCase();
      return v === 'true' ? true : v === 'false' ? false : value;
    })(target, key);
    IsBoolean({ message: 'expected true or false' })(target, key);
  };
}

function readableFile(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  try {
    accessSync(v, fsConstants.R_OK);
    return statSync(v).isFile();
  } catch {
    return false;
  }
}

/** KAFKA_SSL_CA_FILE: a PEM file this process can read, only with KAFKA_SSL=true. */
export function IsKafkaCaFile(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isKafkaCaFile',
      target: target.constructor,
      propertyName: propertyName as string,
      options: { message: 'expected the path of a readable PEM file, with KAFKA_SSL=true', ...options },
      validator: { validate: (v: unknown, args) => readableFile(v) && (args?.object as Record<string, unknown>)['KAFKA_SSL'] === true },
    });
}

/**
 * Optional, but required as soon as any of `variables` is set (its own value included): for
 * settings that only make sense together, such as a SASL mechanism and its credentials. A
 * variable so marked is optional for a deployment that sets none of them.
 */
export function RequiredWith(variables: string[], what: string): PropertyDecorator {
  const message = `expected ${what} (required when ${variables.join(' or ')} is set)`;
  return (target, key) => {
    ValidateIf((o: Record<string, unknown>) => o[key as string] !== undefined || variables.some((v) => o[v] !== undefined))(target, key);
    IsString({ message })(target, key);
    IsNotEmpty({ message })(target, key);
    MaxLength(1_000, { message })(target, key);
  };
}

export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/** KAFKA_SASL_MECHANISM: one of KAFKA_SASL_MECHANISMS (any case); required once a SASL user or password is set. */
export function IsKafkaSaslMechanism(): PropertyDecorator {
  const message = `expected ${KAFKA_SASL_MECHANISMS.join(', ')} (required when KAFKA_SASL_USERNAME or KAFKA_SASL_PASSWORD is set)`;
  return (target, key) => {
    Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim().toLowerCase() : value))(target, key);
    ValidateIf((o: Record<string, unknown>) => ['KAFKA_SASL_MECHANISM', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'].some((v) => o[v] !== undefined))(
      target,
      key,
    );
    IsIn(KAFKA_SASL_MECHANISMS, { message })(target, key);
  };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A TCP port variable. */
export function IsPort(): PropertyDecorator {
  return (target, key) => {
    Type(() => Number)(target, key);
    IsInt({ message: 'expected a whole number from 1 to 65535' })(target, key);
    Min(1, { message: 'expected a whole number from 1 to 65535' })(target, key);
    Max(65535, { message: 'expected a whole number from 1 to 65535' })(target, key);
  };
}

/** A whole number within [min, max]. */
export function IsIntBetween(min: number, max: number): PropertyDecorator {
  const message = `expected a whole number from ${min} to ${max}`;
  return (target, key) => {
    Type(() => Number)(target, key);
    IsInt({ message })(target, key);
    Min(min, { message })(target, key);
    Max(max, { message })(target, key);
  };
}

/** What every app reads. */
export class BaseAppConfig {
  @IsOptional()
  @IsIn(LOG_LEVELS, { message: `expected one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: LogLevel = 'info';

  /** The address the HTTP server binds to. */
  @IsOptional()
  @IsToken()
  HOST = '0.0.0.0';

  /** How long SIGTERM waits for in-flight work before the process gives up and exits 1. */
  @IsOptional()
  @IsIntBetween(100, 120_000)
  SHUTDOWN_TIMEOUT_MS = 10_000;
}
