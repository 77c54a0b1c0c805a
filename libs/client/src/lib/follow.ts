import { isValidName } from '@tm/contracts';
import { WatchClient, type ReceivedBookmark, type WatchChange } from '@tm/watch';
import { TrafficManagerError } from './errors';
import { errorOf, unrefFetch, type WatchConfig } from './watch';

/** One event of `client.follow()`, in the order the resolver's watch sent it. */
export type FollowEvent =
  /** A route's state: `snapshot` true for the current state the stream opens with (no revision id yet). */
  | { type: 'put'; route: string; url: string; revision: number; snapshot: boolean; data: string }
  | { type: 'delete'; route: string; revision: number; data: string }
  /** Every change up to `revision` has been delivered; `snapshot` true ends the opening snapshot. */
  | { type: 'bookmark'; revision: number; snapshot: boolean; ageMs: number; data: string }
  /**
   * The stream is down; it reconnects in `retryInMs`, resuming after the last revision seen
   * (`Last-Event-ID`). `wasUp`: whether a stream of this follow ever opened.
   */
  | { type: 'down'; error: TrafficManagerError; retryInMs: number; wasUp: boolean }
  /** The resolver no longer has the history to resume from (410): a new snapshot follows. */
  | { type: 'reset'; error: TrafficManagerError };

export interface FollowOptions {
  /** One tenant's routes (`/v1/watch/{tenant}`); absent: every route the key may read (`/v1/watch`). */
  tenant?: string | undefined;
}

/** A running `client.follow()`: `close()` ends it. */
export interface Follow {
  close(): void;
}

/** A change as the follow hands it on: the CloudEvent as sent (`data`). */
function changeEvent(change: WatchChange, snapshot: boolean): FollowEvent {
  const data = JSON.stringify(change.event);
  if (change.kind === 'put' && change.url !== null) return { type: 'put', route: change.key, url: change.url, revision: change.revision, snapshot, data };
  return { type: 'delete', route: change.key, revision: change.revision, data };
}

/** A bookmark as the follow hands it on: its data as sent. */
function bookmarkEvent(bookmark: ReceivedBookmark): FollowEvent {
  const { revision, knownCurrentAt, ageMs, snapshot } = bookmark;
  return { type: 'bookmark', revision, snapshot, ageMs, data: JSON.stringify({ revision, knownCurrentAt, ageMs, snapshot }) };
}

/**
 * Follows the resolver's watch event by event with the one watch client (@tm/watch), as the SDK's
 * tenant watches do: resume with `Last-Event-ID` after any disconnect, jittered exponential
 * backoff, `Retry-After` on 503/429, a new snapshot after a 410, a stream silent for 3 bookmark
 * intervals treated as down. Its timers and socket never keep the process alive.
 */
export function follow(target: WatchConfig, options: FollowOptions, listener: (event: FollowEvent) => void): Follow {
  const tenant = options.tenant;
  if (tenant !== undefined && !isValidName(tenant)) throw new TrafficManagerError('invalid_argument', `not a tenant name: ${String(tenant).slice(0, 100)}`);
  const what = tenant ?? 'all tenants';
  let wasUp = false;
  const emit = (event: FollowEvent): void => {
    try {
      listener(event);
    } catch {
      // The listener's failure is its own; the follow goes on.
    }
  };
  const client = new WatchClient(
    {
      url: `${target.resolverUrl}/v1/watch${tenant === undefined ? '' : `/${encodeURIComponent(tenant)}`}`,
      apiKey: target.apiKey,
      backoffBaseMs: target.backoffBaseMs,
      backoffMaxMs: target.backoffMaxMs,
      fetch: unrefFetch,
    },
    {
      open: () => {
        wasUp = true;
      },
      snapshot: (routes) => {
        for (const route of routes) emit(changeEvent(route, true));
      },
      change: (change) => emit(changeEvent(change, false)),
      bookmark: (bookmark) => emit(bookmarkEvent(bookmark)),
      reset: (failure) => emit({ type: 'reset', error: errorOf(what, failure) }),
      error: (failure) => emit({ type: 'down', error: errorOf(what, failure), retryInMs: failure.retryInMs, wasUp }),
    },
  ).start();
  return { close: () => client.close() };
}
