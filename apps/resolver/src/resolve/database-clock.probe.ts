import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DatabaseConnector, databaseTime } from '@tm/persistence';
import { DatabaseClock } from './database-clock';
import { ResolverMetrics } from './resolver.metrics';

/** How often the database's clock is sampled when no miss reads it (hits never touch the database). */
export const CLOCK_PROBE_INTERVAL_MS = 5_000;

/**
 * Samples the database's clock once connected and every CLOCK_PROBE_INTERVAL_MS, so that ages stay judged
 * on it while every answer is a hit; reports the skew between it and this process's wall clock. A
 * failed sample (the database down) is skipped: the last offset stays in use.
 */
@Injectable()
export class DatabaseClockProbe implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('DatabaseClock');
  private timer?: NodeJS.Timeout;
  private reported = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly connector: DatabaseConnector,
    private readonly clock: DatabaseClock,
    private readonly metrics: ResolverMetrics,
  ) {}

  onApplicationBootstrap(): void {
    // The first sample as soon as PostgreSQL is there (it may be down at start).
    void this.connector.connected().then(() => this.probe());
    this.timer = setInterval(() => void this.probe(), CLOCK_PROBE_INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** One sample (also what tests call to synchronize at once). */
  async probe(): Promise<void> {
    if (!this.dataSource.isInitialized) return;
    try {
      const sentAt = this.clock.localNow();
      this.clock.sample(sentAt, await databaseTime((sql, params) => this.dataSource.query(sql, params)));
    } catch (e) {
      this.logger.debug(`sampling the database's clock failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const skewMs = this.clock.offsetFromWallClock();
    this.metrics.databaseClockOffset.set(skewMs / 1000);
    if (!this.reported && Math.abs(skewMs) > 1_000) {
      this.reported = true;
      this.logger.warn(`the database's clock is ${(skewMs / 1000).toFixed(1)} s ${skewMs > 0 ? 'ahead of' : 'behind'} this machine's; ages are judged on the database's`);
    }
  }
}
