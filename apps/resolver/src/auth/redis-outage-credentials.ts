import { Inject, Injectable } from '@nestjs/common';
import { OutageCredentials, type RememberedPrincipal } from '@tm/auth';
import { SCOPES, type Scope } from '@tm/contracts';
import { REDIS_CLIENT, withDeadline, type RedisClient } from '@tm/route-cache';
import { ResolverConfig } from '../config';

/**
 * Verified stored keys, kept in the cache's Redis so that every resolver replica (one started during a
 * PostgreSQL outage included) can authenticate them while the database is unreachable. One string per
 * key, `<prefix>auth:{<digest>}` (its own hash tag: one slot), expiring with AUTH_STALE_GRACE_SECONDS.
 *
 * Redis is trusted here as it already is for answers: whoever can write it can change what the
 * resolver serves. It never learns a token: the digest is of the whole token.
 */
@Injectable()
export class RedisOutageCredentials extends OutageCredentials {
  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient,
    private readonly config: ResolverConfig,
  ) {
    super();
  }

  async remember(digest: string, principal: RememberedPrincipal, ttlMs: number): Promise<void> {
    await withDeadline(this.redis.set(this.key(digest), JSON.stringify(principal), { PX: ttlMs }), this.config.REDIS_COMMAND_TIMEOUT_MS);
  }

  async recall(digest: string): Promise<RememberedPrincipal | undefined> {
    const value = await withDeadline(this.redis.get(this.key(digest)), this.config.REDIS_COMMAND_TIMEOUT_MS);
    return typeof value === 'string' ? parseRemembered(value) : undefined;
  }

  async forget(digest: string): Promise<void> {
    await withDeadline(this.redis.del(this.key(digest)), this.config.REDIS_COMMAND_TIMEOUT_MS);
  }

  private key(digest: string): string {
    return `${this.config.CACHE_KEY_PREFIX}auth:{${digest}}`;
  }
}

/** The stored JSON back as a principal, or undefined when it is not one (nothing else may pass). */
export function parseRemembered(value: string): RememberedPrincipal | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const p = parsed as Record<string, unknown>;
  const scopes = p['scopes'];
  if (
    typeof p['id'] !== 'string' ||
    typeof p['name'] !== 'string' ||
    !(p['tenant'] === null || typeof p['tenant'] === 'string') ||
    // A bound key is bound to a tenant's id (an entry without one, written by an older version, is not used).
    !(p['tenant'] === null ? p['tenantId'] === null || p['tenantId'] === undefined : typeof p['tenantId'] === 'string') ||
    typeof p['verifiedAt'] !== 'number' ||
    !Array.isArray(scopes) ||
    !scopes.every((s): s is Scope => typeof s === 'string' && (SCOPES as readonly string[]).includes(s))
  ) {
    return undefined;
  }
  const tenantId = typeof p['tenantId'] === 'string' ? p['tenantId'] : null;
  return { id: p['id'], name: p['name'], tenant: p['tenant'], tenantId, scopes, verifiedAt: p['verifiedAt'] };
}
