import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { DatabaseConnector } from '@tm/persistence';
import { ResolverConfig } from '../config';

/** The fastest the list is read again when AUTH_CACHE_TTL_MS is 0 ("at once"). */
const MIN_REFRESH_MS = 100;

/** What the directory knows of a tenant's slug. */
export type TenantAccess = { open: true; tenantId: string } | { open: false } | { unknown: true };

/**
 * The tenants open to DNS (`tenants.dns`; docs/dns.md, "Opening a tenant"), by slug, read whole from
 * PostgreSQL twice per AUTH_CACHE_TTL_MS: a change reaches every replica within it, with no revision and no
 * event, and a query costs no database round trip whatever name it asks (a flood of made-up tenants
 * reads nothing). While PostgreSQL is unreachable the last list is used for CACHE_STALE_GRACE_SECONDS;
 * a replica that never read it (started during the outage), or past the grace, knows nothing
 * (SERVFAIL), rather than answering NXDOMAIN for a tenant that may be open.
 */
@Injectable()
export class OpenTenants implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('DnsTenants');
  private open: Map<string, string> | undefined;
  private readAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private failing = false;
  private readonly refreshMs: number;
  private readonly graceMs: number;
  /** DNS is on (RESOLVER_DNS_PORT is not 0): only then is the list kept. */
  private readonly enabled: boolean;

  constructor(
    config: ResolverConfig,
    private readonly dataSource: DataSource,
    private readonly connector: DatabaseConnector,
  ) {
    // Read twice per AUTH_CACHE_TTL_MS, so that a change is learned within it, the read's own time included.
    this.refreshMs = Math.max(MIN_REFRESH_MS, Math.floor(config.AUTH_CACHE_TTL_MS / 2));
    this.graceMs = config.CACHE_STALE_GRACE_SECONDS * 1000;
    this.enabled = config.RESOLVER_DNS_PORT !== 0;
  }

  onModuleInit(): void {
    // With DNS off nothing asks, and the database is not read for it.
    if (!this.enabled) return;
    // The first read once PostgreSQL is connected (the app starts without it); then every refreshMs.
    void this.connector.connected().then(() => this.refresh());
    this.timer = setInterval(() => {
      if (this.dataSource.isInitialized) void this.refresh();
    }, this.refreshMs).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.reading;
  }

  /** Whether `slug` is open (with its tenant id), closed or absent, or not known (no list within the grace). */
  access(slug: string): TenantAccess {
    if (!this.open || Date.now() - this.readAt > this.graceMs) return { unknown: true };
    const tenantId = this.open.get(slug);
    return tenantId === undefined ? { open: false } : { open: true, tenantId };
  }

  /** Reads the list now (one read at a time; callers meanwhile share it). */
  refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<void> {
    try {
      const rows = await this.dataSource.query<{ slug: string; id: string }[]>('SELECT slug, id FROM tenants WHERE dns');
      this.open = new Map(rows.map((r) => [r.slug, r.id]));
      this.readAt = Date.now();
      if (this.failing) this.logger.log(`tenants open to DNS read again (${rows.length})`);
      this.failing = false;
    } catch (e) {
      if (!this.failing) this.logger.warn(`tenants open to DNS could not be read; the last list is used: ${e instanceof Error ? e.message : String(e)}`);
      this.failing = true;
    }
  }
}
