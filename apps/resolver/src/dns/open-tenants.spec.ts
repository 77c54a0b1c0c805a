import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { DatabaseConnector } from '@tm/persistence';
import type { ResolverConfig } from '../config';
import { OpenTenants } from './open-tenants';

/** A database whose `tenants` rows the test sets, and which it can make unreachable. */
class FakeTenants {
  rows: { slug: string; id: string }[] = [];
  down = false;
  readonly dataSource = {
    isInitialized: true,
    query: async () => {
      if (this.down) throw new Error('connect ECONNREFUSED');
      return this.rows.map((r) => ({ ...r }));
    },
  } as unknown as DataSource;
}

describe('OpenTenants: the tenants open to DNS, as each replica knows them', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn']));
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const start = async (db: FakeTenants, ttlMs: number, graceSeconds = 60) => {
    const config = { AUTH_CACHE_TTL_MS: ttlMs, CACHE_STALE_GRACE_SECONDS: graceSeconds, RESOLVER_DNS_PORT: 5353 } as ResolverConfig;
    const tenants = new OpenTenants(config, db.dataSource, { connected: () => Promise.resolve() } as unknown as DatabaseConnector);
    tenants.onModuleInit();
    await jest.advanceTimersByTimeAsync(0);
    return tenants;
  };

  it('learns a tenant opened or closed within AUTH_CACHE_TTL_MS, with no event', async () => {
    const db = new FakeTenants();
    const tenants = await start(db, 5_000);
    expect(tenants.access('acme')).toEqual({ open: false });
    db.rows = [{ slug: 'acme', id: 'id-1' }];
    await jest.advanceTimersByTimeAsync(5_000);
    expect(tenants.access('acme')).toEqual({ open: true, tenantId: 'id-1' });
    db.rows = [];
    await jest.advanceTimersByTimeAsync(5_000);
    expect(tenants.access('acme')).toEqual({ open: false });
    await tenants.onApplicationShutdown();
  });

  it('keeps the last list while PostgreSQL is down, for the stale grace; knows nothing before its first read or past the grace', async () => {
    const db = new FakeTenants();
    db.down = true;
    const tenants = await start(db, 1_000, 10);
    // Never read: unknown (SERVFAIL), not "closed" (NXDOMAIN).
    expect(tenants.access('acme')).toEqual({ unknown: true });
    db.down = false;
    db.rows = [{ slug: 'acme', id: 'id-1' }];
    await jest.advanceTimersByTimeAsync(1_000);
    expect(tenants.access('acme')).toEqual({ open: true, tenantId: 'id-1' });
    db.down = true;
    await jest.advanceTimersByTimeAsync(9_000);
    expect(tenants.access('acme')).toEqual({ open: true, tenantId: 'id-1' });
    await jest.advanceTimersByTimeAsync(2_000);
    expect(tenants.access('acme')).toEqual({ unknown: true });
    await tenants.onApplicationShutdown();
  });
});
