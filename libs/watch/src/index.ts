/**
 * @tm/watch: the one client of the resolver's watch and the one Server-Sent Events parser. No Node
 * API (lint and a test check it): the SDK bundles it, apps and tools import it, a browser can run it.
 */
export { SseParser } from './lib/sse';
export type { SseEvent } from './lib/sse';
export { parseBookmark, parseChange, parseHealth } from './lib/frames';
export type { HealthChange, RouteChange } from './lib/frames';
export { parseRetryAfter, WatchClient } from './lib/watch-client';
export type {
  ReceivedBookmark,
  WatchBodyReader,
  WatchChange,
  WatchClientOptions,
  WatchFailure,
  WatchFetch,
  WatchListener,
  WatchRequestInit,
  WatchResponse,
  WatchState,
} from './lib/watch-client';
