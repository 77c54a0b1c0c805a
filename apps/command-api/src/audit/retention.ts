import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CommandApiConfig } from '../config';

/** How often a replica prunes history and the audit log. */
const EVERY_MS = 10 * 60_000;

/** Rows deleted per statement, so a pass never holds many locks or runs long. */
const BATCH = 5_000;

/** The versions of a route kept whatever their age (docs/changes.md, "History"). */
export const KEPT_VERSIONS = 100;

/**
 * Retention of history and the audit log (HISTORY_RETENTION_DAYS, AUDIT_RETENTION_DAYS): a route's
 * versions older than the first, but always its last 100; change sets and audit rows older than the
 * second. Every replica runs it (the deletes are idempotent); none of it is on a request's path.
 */
@Injectable()
export class HistoryRetention implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(HistoryRetention.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: CommandApiConfig,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => {
      this.running ??= this.prune()
        .catch((e: unknown) => this.logger.warn(`history retention: ${e instanceof Error ? e.message : String(e)}; trying again later`))
        .finally(() => (this.running = undefined));
    }, EVERY_MS).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass; returns how many rows of each went. */
  async prune(): Promise<{ versions: number; changeSets: number; audit: number }> {
    const versions = await this.drain(
      // Numbered newest first, per route, among the routes that have an old version at all (one pass).
      `DELETE FROM route_versions WHERE ctid IN (
         SELECT x.ctid FROM (
           SELECT v.ctid, v.at, row_number() OVER (PARTITION BY v.tenant_id, v.service, v.environment ORDER BY v.revision DESC) AS n
             FROM route_versions v
            WHERE (v.tenant_id, v.service, v.environment) IN (
                    SELECT tenant_id, service, environment FROM route_versions WHERE at < now() - make_interval(days => $1))) x
          WHERE x.n > ${KEPT_VERSIONS} AND x.at < now() - make_interval(days => $1)
          LIMIT ${BATCH})`,
      this.config.HISTORY_RETENTION_DAYS,
    );
    const changeSets = await this.drain(
      `DELETE FROM change_sets WHERE ctid IN (
         SELECT c.ctid FROM change_sets c
          WHERE c.at < now() - make_interval(days => $1)
            AND NOT EXISTS (SELECT 1 FROM route_versions v WHERE v.revision = c.revision)
          LIMIT ${BATCH})`,
      this.config.AUDIT_RETENTION_DAYS,
    );
    const audit = await this.drain(
      `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < now() - make_interval(days => $1) ORDER BY id LIMIT ${BATCH})`,
      this.config.AUDIT_RETENTION_DAYS,
    );
    if (versions + changeSets + audit > 0) this.logger.log(`history retention: ${versions} versions, ${changeSets} change sets, ${audit} audit rows deleted`);
    return { versions, changeSets, audit };
  }

  private async drain(sql: string, days: number): Promise<number> {
    let total = 0;
    for (;;) {
      const [, count] = (await this.dataSource.query(sql, [days])) as [unknown, number];
      total += count;
      if (count < BATCH) return total;
    }
  }
}
