import { createContext, useContext, useEffect, useState, useSyncExternalStore, type ReactNode } from 'react';
import { TenantWatch, type WatchStatus } from './watch';
import { useSessionContext } from './session';

/**
 * Keeps one tenant's watch open (the tenant the current page shows; the header shows its state).
 * Outside React: pages say which tenant they want, components read `current` through useSyncExternalStore.
 */
class WatchHub {
  current: TenantWatch | null = null;
  private wanted: { tenant: string | null; key: string | null; resolverUrl: string | null } = { tenant: null, key: null, resolverUrl: null };
  private listeners = new Set<() => void>();
  constructor(private readonly onUnauthorized: (key: string) => void) {}

  want(next: Partial<WatchHub['wanted']>): void {
    const wanted = { ...this.wanted, ...next };
    // Signed out: the next key watches nothing of this one's tenant unless a page of its own asks.
    if (next.key === null && next.tenant === undefined) wanted.tenant = null;
    if (wanted.tenant === this.wanted.tenant && wanted.key === this.wanted.key && wanted.resolverUrl === this.wanted.resolverUrl && this.current) return;
    this.wanted = wanted;
    this.current?.close();
    this.current = null;
    if (wanted.tenant && wanted.key && wanted.resolverUrl) {
      const key = wanted.key;
      this.current = new TenantWatch(wanted.tenant, wanted.resolverUrl, key, (failure) => {
        if (failure.status === 401) this.onUnauthorized(key);
      }).start();
    }
    for (const listener of this.listeners) listener();
  }

  stop(): void {
    this.current?.close();
    this.current = null;
    this.wanted = { tenant: null, key: null, resolverUrl: null };
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getCurrent = (): TenantWatch | null => this.current;
}

const HubContext = createContext<WatchHub | null>(null);

export function WatchHubProvider({ children }: { children: ReactNode }) {
  const { session, config, signOut } = useSessionContext();
  const [hub] = useState(() => new WatchHub((key) => signOut('The resolver refused the key (401): it was revoked or is unknown. Sign in again.', key)));
  const key = session?.apis.key ?? null;
  const boundTenant = session?.whoami.tenant ?? null;
  useEffect(() => {
    hub.want({ key, resolverUrl: config.resolverUrl, ...(boundTenant ? { tenant: boundTenant } : {}) });
  }, [hub, key, boundTenant, config.resolverUrl]);
  useEffect(() => () => hub.stop(), [hub]);
  return <HubContext.Provider value={hub}>{children}</HubContext.Provider>;
}

function useHub(): { hub: WatchHub; watch: TenantWatch | null } {
  const hub = useContext(HubContext);
  if (!hub) throw new Error('useHub outside WatchHubProvider');
  const watch = useSyncExternalStore(hub.subscribe, hub.getCurrent);
  return { hub, watch };
}

/** The watch of `tenant` (opened for this page), re-rendering on every change it receives. */
export function useTenantWatch(tenant: string | null): TenantWatch | null {
  const { hub, watch } = useHub();
  useEffect(() => {
    if (tenant) hub.want({ tenant });
  }, [tenant, hub]);
  const current = watch && watch.tenant === tenant ? watch : null;
  useSyncExternalStore(current?.subscribe ?? noSubscribe, current?.getVersion ?? zero);
  return current;
}

/** The watch the header shows (whatever tenant is being watched), with its status every second. */
export function useWatchStatus(): { tenant: string; status: WatchStatus; now: number } | null {
  const { watch } = useHub();
  useSyncExternalStore(watch?.subscribe ?? noSubscribe, watch?.getVersion ?? zero);
  const now = useNow(1000);
  return watch ? { tenant: watch.tenant, status: watch.status(now), now } : null;
}

/** performance.now(), refreshed every `ms`. */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(performance.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

const noSubscribe = () => () => undefined;
const zero = () => 0;
