import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '@tm/platform';

/** Who a stream counts against: its key (null: TM_ADMIN_TOKEN, counted only in the replica's total) and its tenant (null: every tenant). */
export interface StreamOwner {
  keyId: string | null;
  tenant: string | null;
}

export interface StreamLimitsConfig {
  /** WATCH_MAX_STREAMS: on this replica. */
  total: number;
  /** WATCH_MAX_STREAMS_PER_KEY. */
  perKey: number;
  /** WATCH_MAX_STREAMS_PER_TENANT. */
  perTenant: number;
}

/** A stream's place, held from its admission (before its snapshot is read) until it closes; release is idempotent. */
export interface StreamTicket {
  release(): void;
}

/** Which limit refused a stream (the `limit` of tm_quota_refusals_total). */
export type StreamLimit = 'watch_streams' | 'watch_streams_per_key' | 'watch_streams_per_tenant';

/** Seconds a refused client waits: long-lived streams free their places slowly. */
const QUOTA_RETRY_AFTER_SECONDS = 5;

function count(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/**
 * The watch's stream limits on one replica (docs/guarantees.md, "Tenancy"): every stream counts from
 * the moment it is admitted, so concurrent opens whose snapshots are still being read cannot exceed
 * them. The replica's total is a 503 (the replica is full: another may not be); a key's or a
 * tenant's share is a 429 `watch_stream_quota` (the caller is over its own quota wherever it goes).
 */
export class StreamLimits {
  private total = 0;
  private readonly byKey = new Map<string, number>();
  private readonly byTenant = new Map<string, number>();

  constructor(
    private readonly config: StreamLimitsConfig,
    private readonly refused: (limit: StreamLimit, owner: StreamOwner) => void = () => undefined,
  ) {}

  get open(): number {
    return this.total;
  }

  /** Admits a stream of `owner`, or throws the refusal. */
  admit(owner: StreamOwner): StreamTicket {
    if (this.total >= this.config.total) {
      this.refused('watch_streams', owner);
      throw new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, 'Service Unavailable', `this replica has ${this.total} watch streams open, its most; retry later`, {
        headers: { 'Retry-After': '1' },
        code: 'watch_streams_exhausted',
      });
    }
    if (owner.keyId !== null && (this.byKey.get(owner.keyId) ?? 0) >= this.config.perKey) {
      this.refused('watch_streams_per_key', owner);
      throw quota(`this key has ${this.config.perKey} watch streams open on this replica, its most (WATCH_MAX_STREAMS_PER_KEY)`);
    }
    // The admin token's streams count only toward the replica's total.
    const tenant = owner.keyId === null ? null : owner.tenant;
    if (tenant !== null && (this.byTenant.get(tenant) ?? 0) >= this.config.perTenant) {
      this.refused('watch_streams_per_tenant', owner);
      throw quota(`tenant ${tenant} has ${this.config.perTenant} watch streams open on this replica, its most (WATCH_MAX_STREAMS_PER_TENANT)`);
    }
    this.total++;
    if (owner.keyId !== null) count(this.byKey, owner.keyId, 1);
    if (tenant !== null) count(this.byTenant, tenant, 1);
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.total--;
        if (owner.keyId !== null) count(this.byKey, owner.keyId, -1);
        if (tenant !== null) count(this.byTenant, tenant, -1);
      },
    };
  }
}

function quota(detail: string): ProblemException {
  return new ProblemException(HttpStatus.TOO_MANY_REQUESTS, 'Too Many Requests', detail, {
    headers: { 'Retry-After': String(QUOTA_RETRY_AFTER_SECONDS) },
    code: 'watch_stream_quota',
  });
}
