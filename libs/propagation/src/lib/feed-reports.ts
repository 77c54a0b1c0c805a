import { createFeatureRedis, oneKeyScript, withTimeout, type FeatureRedisLifecycle } from '@tm/platform';

/**
 * Where each resolver replica tells how far its watch feed is (docs/guarantees.md, "Propagation"):
 * one hash, `<prefix>resolver-feeds` (one key: one slot on a cluster), a field per replica, the
 * value `<feedRevision>:<seenAt ms>`. `seenAt` is the Redis server's clock, and so is the reader's
 * "now": whether a replica is live does not depend on the machines' clocks agreeing.
 */
export function feedReportsKey(prefix: string): string {
  return `${prefix}resolver-feeds`;
}

/** FEED_REPORT(hash; replica, revision, forgetMs) -> now: sets the replica's report; forgets replicas not heard from for forgetMs. */
export const FEED_REPORT_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. string.format('%d', now))
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local at = tonumber(string.match(all[i + 1], ':(%d+)$'))
  if at == nil or now - at > tonumber(ARGV[3]) then redis.call('HDEL', KEYS[1], all[i]) end
end
return string.format('%d', now)
`;

/** FEED_REPORTS(hash) -> {now, replica1, value1, replica2, value2, ...}. */
export const FEED_REPORTS_SCRIPT = `
local t = redis.call('TIME')
local out = {string.format('%d', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all do out[#out + 1] = all[i] end
return out
`;

const SCRIPTS = {
  feedReport: oneKeyScript(FEED_REPORT_SCRIPT, String),
  feedReports: oneKeyScript(FEED_REPORTS_SCRIPT, (reply: unknown) => (Array.isArray(reply) ? reply.map(String) : [])),
};

/** The little of node-redis the reports use, the same on one node and on a cluster. */
export interface FeedReportsRedis extends FeatureRedisLifecycle {
  feedReport(key: string, args: string[]): Promise<string>;
  feedReports(key: string, args: string[]): Promise<string[]>;
  hDel(key: string, field: string): Promise<unknown>;
}

/**
 * A Redis client of the reports' own (REDIS_URL: one node or a cluster), beside any the app has:
 * its commands fail at once while Redis is down (no offline queue). Connected by FeedReportStore.
 */
export function createFeedReportsRedis(url: string): FeedReportsRedis {
  return createFeatureRedis<FeedReportsRedis>(url, SCRIPTS);
}

/** One replica's last report. */
export interface FeedReport {
  replica: string;
  feedRevision: number;
  /** When Redis took the report (ms since the epoch, the Redis server's clock). */
  seenAt: number;
}

/** The reports, and Redis's clock when they were read. */
export interface FeedReports {
  now: number;
  reports: FeedReport[];
}

/** The reply of FEED_REPORTS; a field that does not parse is left out. */
export function parseFeedReports(reply: readonly string[]): FeedReports {
  const [now, ...flat] = reply;
  const reports: FeedReport[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const match = /^(\d+):(\d+)$/.exec(flat[i + 1] ?? '');
    if (match) reports.push({ replica: flat[i] ?? '', feedRevision: Number(match[1]), seenAt: Number(match[2]) });
  }
  reports.sort((a, b) => (a.replica < b.replica ? -1 : a.replica > b.replica ? 1 : 0));
  return { now: Number(now), reports };
}

/**
 * Writes and reads the reports on a client of its own; every call bounded by `timeoutMs` (Redis
 * down: it rejects at once or then). `open()` connects in the background (the app starts while
 * Redis is down; a single node reconnects by itself, a cluster is tried again on each call).
 */
export class FeedReportStore {
  private nextConnectAt = 0;

  constructor(
    private readonly client: FeedReportsRedis,
    private readonly prefix: string,
    private readonly timeoutMs = 500,
  ) {
    // node-redis repeats a connection error on every attempt: callers log what fails.
    client.on('error', () => undefined);
  }

  /** Connects unless connected or connecting (tried at most every 2 s). */
  open(): void {
    if (this.client.isOpen || Date.now() < this.nextConnectAt) return;
    this.nextConnectAt = Date.now() + 2_000;
    void this.client.connect().catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.client.isReady) await this.client.close().catch(() => this.client.destroy());
    else if (this.client.isOpen) this.client.destroy();
  }

  async report(replica: string, feedRevision: number, forgetMs: number): Promise<void> {
    this.open();
    await withTimeout(this.client.feedReport(feedReportsKey(this.prefix), [replica, String(feedRevision), String(forgetMs)]), this.timeoutMs, 'Redis');
  }

  async read(): Promise<FeedReports> {
    this.open();
    return parseFeedReports(await withTimeout(this.client.feedReports(feedReportsKey(this.prefix), []), this.timeoutMs, 'Redis'));
  }

  async remove(replica: string): Promise<void> {
    await withTimeout(this.client.hDel(feedReportsKey(this.prefix), replica), this.timeoutMs, 'Redis');
  }
}
