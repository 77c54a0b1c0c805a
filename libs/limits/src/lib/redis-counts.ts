import { defineScript, type CommandParser, type RedisArgument } from 'redis';
import { createFeatureRedis, type FeatureRedisLifecycle } from '@tm/platform';
import type { SharedCounts } from './rate-limiter';

/**
 * ADD(key; ttlMs, field1, n1, field2, n2, ...) -> the fields' new values, in order. One second's
 * counts of one app are one hash (one key: one slot on a cluster), a field per key id; the hash
 * expires a few seconds after its second.
 */
const ADD_SCRIPT = `
local out = {}
for i = 2, #ARGV, 2 do
  out[#out + 1] = redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return out
`;

const SCRIPTS = {
  rateAdd: defineScript({
    SCRIPT: ADD_SCRIPT,
    NUMBER_OF_KEYS: 1,
    parseCommand(parser: CommandParser, key: RedisArgument, args: RedisArgument[]) {
      parser.pushKey(key);
      parser.push(...args);
    },
    transformReply: (reply: unknown) => (reply as (number | string)[]).map(Number),
  }),
};

/** The little of node-redis the limiter uses, the same on one node and on a cluster. */
export interface LimitsRedis extends FeatureRedisLifecycle {
  rateAdd(key: string, args: string[]): Promise<number[]>;
}

/**
 * A Redis client of the limiter's own (REDIS_URL: one node or a cluster): its commands fail at once
 * while Redis is down (no offline queue), and it never blocks a request (it is used off the request
 * path only).
 */
export function createLimitsRedis(url: string): LimitsRedis {
  return createFeatureRedis<LimitsRedis>(url, SCRIPTS);
}

/** Fields per script call: a second with many active keys is sent in several calls, pipelined. */
const FIELDS_PER_CALL = 500;

/** The shared counts in Redis: `<prefix>ratelimit:<app>:<second>`, a hash of key id to requests. */
export class RedisSharedCounts implements SharedCounts {
  constructor(
    private readonly redis: LimitsRedis,
    /** CACHE_KEY_PREFIX and the app: each API counts its own requests. */
    private readonly keyPrefix: string,
    private readonly ttlMs = 5_000,
  ) {}

  async add(window: number, added: ReadonlyMap<string, number>): Promise<ReadonlyMap<string, number>> {
    const key = `${this.keyPrefix}${window}`;
    const entries = [...added];
    const calls: Promise<number[]>[] = [];
    for (let i = 0; i < entries.length; i += FIELDS_PER_CALL) {
      const args = [String(this.ttlMs)];
      for (const [keyId, n] of entries.slice(i, i + FIELDS_PER_CALL)) args.push(keyId, String(n));
      calls.push(this.redis.rateAdd(key, args));
    }
    const totals = new Map<string, number>();
    (await Promise.all(calls)).flat().forEach((total, j) => totals.set((entries[j] as [string, number])[0], total));
    return totals;
  }
}
