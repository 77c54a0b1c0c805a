import type { WatchState } from './watch';
import type { TrafficManagerError } from './errors';

export interface ClientEvents {
  'watch-state': { tenant: string; state: WatchState };
  /** A stale answer was served (the resolver unreachable, within `staleIfErrorMs`). */
  stale: { route: string; ageMs: number; error: TrafficManagerError };
  /** A watch failed, or a listener threw. Never crashes the process, listened to or not. */
  error: TrafficManagerError;
}

export type ClientEventName = keyof ClientEvents;
type Listener<E extends ClientEventName> = (payload: ClientEvents[E]) => void;

/**
 * A small typed emitter. Unlike Node's EventEmitter an `error` without a listener is dropped, and a
 * listener that throws does not break the SDK.
 */
export class Emitter {
  private readonly listeners = new Map<ClientEventName, Set<Listener<never>>>();

  on<E extends ClientEventName>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  off<E extends ClientEventName>(event: E, listener: Listener<E>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  emit<E extends ClientEventName>(event: E, payload: ClientEvents[E]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<E>)(payload);
      } catch {
        // A listener's failure is its own business; the SDK goes on.
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
  }
}
