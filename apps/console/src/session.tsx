import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { apisFor, data, type Apis, type ConsoleConfig } from './api/api';
import type { components } from './api/command-api.gen';

export type Whoami = components['schemas']['WhoamiResponse'];
export type Scope = Whoami['scopes'][number];

/** The signed-in key: kept in this tab's session storage only (never local storage, a URL or a log). */
const STORAGE = 'tm-console-session';

interface Stored {
  key: string;
  whoami: Whoami;
}

export interface Session {
  apis: Apis;
  whoami: Whoami;
  /** What the resolver says of the same key (null: the resolver could not be asked). */
  resolverWhoami: Whoami | null;
}

interface SessionContextValue {
  config: ConsoleConfig;
  session: Session | null;
  /** Why the last session ended, when the console ended it (a 401): shown on the sign-in page. */
  endedBecause: string | null;
  signIn(key: string): Promise<void>;
  signOut(reason?: string, onlyKey?: string): void;
}

const SessionContext = createContext<SessionContextValue | null>(null);

function readStored(): Stored | null {
  try {
    const raw = sessionStorage.getItem(STORAGE);
    return raw ? (JSON.parse(raw) as Stored) : null;
  } catch {
    return null;
  }
}

export function SessionProvider({ config, children }: { config: ConsoleConfig; children: ReactNode }) {
  const [session, setSession] = useState<Session | null>(() => {
    const stored = readStored();
    return stored ? { apis: apisFor(config, stored.key), whoami: stored.whoami, resolverWhoami: null } : null;
  });
  const [endedBecause, setEndedBecause] = useState<string | null>(null);

  const signIn = useCallback(
    async (key: string) => {
      const apis = apisFor(config, key);
      const whoami = await data(apis.command.GET('/v1/whoami'));
      const resolverWhoami = apis.resolver ? await data(apis.resolver.GET('/v1/whoami')).catch(() => null) : null;
      sessionStorage.setItem(STORAGE, JSON.stringify({ key, whoami } satisfies Stored));
      setEndedBecause(null);
      setSession({ apis, whoami, resolverWhoami: resolverWhoami as Whoami | null });
    },
    [config],
  );

  /** Ends the session; with `onlyKey`, only if that key is still the one signed in (a late 401 of a key signed out already ends nothing). */
  const signOut = useCallback((reason?: string, onlyKey?: string) => {
    if (onlyKey !== undefined && readStored()?.key !== onlyKey) return;
    sessionStorage.removeItem(STORAGE);
    setEndedBecause(reason ?? null);
    setSession(null);
  }, []);

  const value = useMemo(() => ({ config, session, endedBecause, signIn, signOut }), [config, session, endedBecause, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSessionContext(): SessionContextValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error('useSessionContext outside SessionProvider');
  return value;
}

/** The signed-in session (pages render only inside one). */
export function useSession(): Session {
  const { session } = useSessionContext();
  if (!session) throw new Error('useSession without a signed-in key');
  return session;
}

export function useApis(): Apis {
  return useSession().apis;
}

/** Whether the key has the scope (admin has every scope). */
export function hasScope(whoami: Whoami, scope: Scope): boolean {
  return whoami.scopes.includes('admin') || whoami.scopes.includes(scope);
}

export function isAdmin(whoami: Whoami): boolean {
  return whoami.admin === true || whoami.scopes.includes('admin');
}
