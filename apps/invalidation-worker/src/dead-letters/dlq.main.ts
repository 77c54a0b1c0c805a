/**
 * `dlq`: lists and replays the worker's dead-letter topic (docs/cache-protocol.md, "Dead letters").
 *
 *   npm run dlq -- list [--limit N] [--partition P] [--from OFFSET] [--to OFFSET] [--json]
 *   npm run dlq -- replay [--partition P] [--from OFFSET] [--to OFFSET] [--dry-run]
 *
 * Built with the worker (dist/apps/invalidation-worker/dlq.js, in its image as /app/dlq.js), it reads
 * the worker's Kafka variables (brokers, TLS, SASL, topic). Exit codes: 0 done, 1 failure, 2 usage or configuration error.
 */
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import { PickType } from '@nestjs/swagger';
import { DEFAULT_ROUTE_EVENTS_TOPIC, deadLetterTopic } from '@tm/contracts';
import { createKafka, kafkaOptions } from '@tm/messaging';
import { ConfigError, validateConfig } from '@tm/platform';
import { InvalidationWorkerConfig } from '../config';
import { formatDeadLetter, readDeadLetters, replayDeadLetters, type DeadLetterRange } from './dead-letters';

/**
 * The variables the command reads: the worker's own, with their validation and defaults (the
 * brokers, TLS and SASL settings, the topic), so that it reaches the brokers the worker reaches.
 */
class DeadLetterToolConfig extends PickType(InvalidationWorkerConfig, [
  'KAFKA_BROKERS',
  'KAFKA_SSL',
  'KAFKA_SSL_CA_FILE',
  'KAFKA_SSL_REJECT_UNAUTHORIZED',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_ROUTE_EVENTS_TOPIC',
] as const) {}

const USAGE = `usage: dlq list [--limit N] [--partition P] [--from OFFSET] [--to OFFSET] [--json]
       dlq replay [--partition P] [--from OFFSET] [--to OFFSET] [--dry-run]

list    prints the dead letters, one line each: partition:offset, time, key, reason
        (--json: one JSON object per line with the value and headers); --limit defaults to 100
replay  publishes each dead letter's original key and value to the route events topic again
        (the worker applies it; revisions make a replay of an old event change nothing)
--from and --to are offsets, inclusive, in each partition read.
Reads the worker's Kafka variables: KAFKA_BROKERS (required), KAFKA_SSL, KAFKA_SSL_CA_FILE,
KAFKA_SSL_REJECT_UNAUTHORIZED, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and
KAFKA_ROUTE_EVENTS_TOPIC (default ${DEFAULT_ROUTE_EVENTS_TOPIC}); the dead-letter topic is <topic>.dlq.`;

class UsageError extends Error {}

function whole(name: string, value: string | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`--${name} expects a whole number, not "${value}"`);
  return BigInt(value);
}

function parse(argv: string[]): { command: 'list' | 'replay'; range: DeadLetterRange; json: boolean; dryRun: boolean } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        limit: { type: 'string' },
        partition: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  if (values.help) throw new UsageError('');
  const command = positionals[0];
  if (positionals.length !== 1 || (command !== 'list' && command !== 'replay')) throw new UsageError('expected one command: list or replay');
  if (command === 'replay' && (values.limit !== undefined || values.json)) throw new UsageError('--limit and --json are for list');
  if (command === 'list' && values['dry-run']) throw new UsageError('--dry-run is for replay');
  const limit = whole('limit', values.limit) ?? (command === 'list' ? 100n : undefined);
  if (limit !== undefined && limit < 1n) throw new UsageError('--limit expects at least 1');
  const range: DeadLetterRange = {
    partition: values.partition === undefined ? undefined : Number(whole('partition', values.partition)),
    from: whole('from', values.from),
    to: whole('to', values.to),
    limit: limit === undefined ? undefined : Number(limit),
  };
  if (range.from !== undefined && range.to !== undefined && range.from > range.to) throw new UsageError('--from is after --to');
  return { command, range, json: values.json, dryRun: values['dry-run'] };
}

async function run(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  let config: DeadLetterToolConfig;
  try {
    args = parse(argv);
    config = validateConfig(DeadLetterToolConfig, process.env);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message ? `dlq: ${e.message}\n` : ''}${USAGE}\n`);
      return 2;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`dlq: invalid configuration: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  // The Kafka client logs through Nest's logger: keep stdout for the output, errors only (on stderr).
  Logger.overrideLogger(['error']);
  const kafka = createKafka(kafkaOptions(config, 'tm-dlq'));
  const dlq = deadLetterTopic(config.KAFKA_ROUTE_EVENTS_TOPIC);
  const { letters, more } = await readDeadLetters(kafka, dlq, args.range);
  if (args.command === 'list') {
    for (const letter of letters) process.stdout.write(`${args.json ? JSON.stringify(letter) : formatDeadLetter(letter)}\n`);
    if (more) process.stderr.write(`dlq: more dead letters follow; use --from or a larger --limit\n`);
    if (letters.length === 0) process.stderr.write(`dlq: no dead letters in ${dlq} in that range\n`);
    return 0;
  }
  if (!args.dryRun) await replayDeadLetters(kafka, config.KAFKA_ROUTE_EVENTS_TOPIC, letters);
  for (const letter of letters) process.stdout.write(`${args.dryRun ? 'would replay' : 'replayed'} ${letter.partition}:${letter.offset} ${letter.key}\n`);
  process.stderr.write(`dlq: ${args.dryRun ? 'would replay' : 'replayed'} ${letters.length} message(s) from ${dlq} to ${config.KAFKA_ROUTE_EVENTS_TOPIC}\n`);
  return 0;
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`dlq: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
