import { Link, Outlet } from '@tanstack/react-router';
import { useEffect, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { data } from './api/api';
import { hasScope, isAdmin, useSessionContext, type Scope, type Session, type Whoami } from './session';
import { useWatchStatus } from './watch-hub';
import { SignInPage } from './pages/sign-in';

type Theme = 'system' | 'light' | 'dark';
const THEME = 'tm-console-theme';

/** Light, dark or the system's: a preference (not a secret) kept in this tab's session storage. */
function ThemeSwitch() {
  const [theme, setTheme] = useState<Theme>(() => (sessionStorage.getItem(THEME) as Theme | null) ?? 'system');
  useEffect(() => {
    if (theme === 'system') delete document.documentElement.dataset['theme'];
    else document.documentElement.dataset['theme'] = theme;
    sessionStorage.setItem(THEME, theme);
  }, [theme]);
  return (
    <label className="theme-switch">
      Colours{' '}
      <select value={theme} onChange={(e) => setTheme(e.target.value as Theme)}>
        <option value="system">system</option>
        <option value="light">light</option>
        <option value="dark">dark</option>
      </select>
    </label>
  );
}

/** The watch's state, always visible: connected, reconnecting (why, when), stale for N s. */
export function WatchIndicator() {
  const watched = useWatchStatus();
  if (!watched) return <span className="watch-status watch-idle">Live updates: no tenant watched</span>;
  const { tenant, status, now } = watched;
  const seconds = status.stalenessMs === undefined ? undefined : Math.floor(status.stalenessMs / 1000);
  let text: string;
  let tone: string;
  if (status.state === 'synced' && seconds !== undefined && seconds >= 15) {
    text = `stale for ${seconds} s`;
    tone = 'watch-stale';
  } else if (status.state === 'synced') {
    text = `connected${status.revision !== undefined ? ` at revision ${status.revision}` : ''}`;
    tone = 'watch-live';
  } else if (status.state === 'down') {
    const retry = status.retryAt === undefined ? '' : `, retrying in ${Math.max(0, Math.ceil((status.retryAt - now) / 1000))} s`;
    text = `reconnecting (${status.failure ?? 'the stream ended'}${retry})${seconds !== undefined ? `; stale for ${seconds} s` : ''}`;
    tone = 'watch-down';
  } else if (status.state === 'connecting') {
    text = 'connecting';
    tone = 'watch-idle';
  } else {
    text = 'closed';
    tone = 'watch-idle';
  }
  return (
    <span className={`watch-status ${tone}`} role="status" aria-live="polite" data-testid="watch-status">
      Live updates ({tenant}): {text}
    </span>
  );
}

const SCOPE_WORDS: Record<Scope, string> = {
  'routes:read': 'read routes, their health and history; watch them',
  'routes:write': 'change routes, apply change sets, roll back and revert',
  'audit:read': 'read the audit log',
  admin: 'everything, on every tenant: tenants, keys, audit',
};

function sameKey(a: Whoami, b: Whoami): boolean {
  return a.keyId === b.keyId && a.tenant === b.tenant && a.admin === b.admin && [...a.scopes].sort().join() === [...b.scopes].sort().join();
}

/**
 * What the signed-in key may do, as both APIs say (GET /v1/whoami), asked again every 15 s: a key
 * revoked meanwhile gets a 401 and the console signs out even on an idle page.
 */
function KeyPanel({ session }: { session: Session }) {
  const { apis } = session;
  const command = useQuery({ queryKey: ['whoami', 'command'], queryFn: () => data(apis.command.GET('/v1/whoami')), refetchInterval: 15_000, initialData: session.whoami });
  const resolver = useQuery({
    queryKey: ['whoami', 'resolver'],
    queryFn: () => (apis.resolver ? data(apis.resolver.GET('/v1/whoami')) : Promise.resolve(null)),
    refetchInterval: 15_000,
  });
  const whoami = command.data;
  return (
    <details className="key-panel">
      <summary>What this key may do</summary>
      <dl>
        <dt>Key</dt>
        <dd>{whoami.admin ? 'the admin token (TM_ADMIN_TOKEN)' : `${whoami.name ?? ''} (${whoami.keyId ?? ''})`}</dd>
        <dt>Tenant</dt>
        <dd>{whoami.tenant ?? 'every tenant'}</dd>
        <dt>Scopes</dt>
        <dd>
          <ul>
            {whoami.scopes.map((scope) => (
              <li key={scope}>
                <code>{scope}</code>: {SCOPE_WORDS[scope]}
              </li>
            ))}
          </ul>
        </dd>
        <dt>Resolver</dt>
        <dd data-testid="resolver-whoami">
          {resolver.isPending
            ? 'asking…'
            : resolver.error
              ? 'could not be asked (live updates and health may fail)'
              : resolver.data === null
                ? 'not configured'
                : resolver.data && sameKey(resolver.data as Whoami, whoami)
                  ? 'says the same'
                  : 'answers differently (a key changed moments ago?)'}
        </dd>
      </dl>
    </details>
  );
}

export function Layout() {
  const { session, signOut, config } = useSessionContext();
  if (!session) return <SignInPage />;
  const { whoami } = session;
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <div className="brand">Traffic Manager</div>
        <nav aria-label="Main">
          <ul>
            <li>
              <Link to="/routes" activeProps={{ 'aria-current': 'page' }}>
                Routes
              </Link>
            </li>
            <li>
              <Link to="/revisions" activeProps={{ 'aria-current': 'page' }}>
                Propagation
              </Link>
            </li>
            <li>
              <Link to="/changes" activeProps={{ 'aria-current': 'page' }}>
                Change sets
              </Link>
            </li>
            {hasScope(whoami, 'audit:read') && (
              <li>
                <Link to="/audit" activeProps={{ 'aria-current': 'page' }}>
                  Audit
                </Link>
              </li>
            )}
            {isAdmin(whoami) && (
              <li>
                <Link to="/keys" activeProps={{ 'aria-current': 'page' }}>
                  Keys
                </Link>
              </li>
            )}
          </ul>
        </nav>
        <div className="identity" data-testid="identity">
          <span>
            {whoami.admin ? 'Admin token' : `Key ${whoami.name ?? whoami.keyId ?? ''}`}
            {' · '}
            {whoami.tenant ? `tenant ${whoami.tenant}` : 'every tenant'}
            {' · '}
            scopes {whoami.scopes.join(', ')}
          </span>
          <KeyPanel session={session} />
          <ThemeSwitch />
          <button type="button" onClick={() => signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <div className="statusbar">
        <WatchIndicator />
        {!config.resolverUrl && <span className="notice-inline">The console was given no resolver URL: live updates and health are off.</span>}
      </div>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}
