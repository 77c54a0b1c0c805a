import { StrictMode, useMemo, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from '@tanstack/react-router';
import { loadConfig, TrafficManagerError, type ConsoleConfig } from './api/api';
import { SessionProvider, useSessionContext } from './session';
import { WatchHubProvider } from './watch-hub';
import { router } from './router';
import './styles.css';

/** Retries only what may pass on a second try (503, network), never a refusal. */
function retry(failures: number, error: unknown): boolean {
  return failures < 2 && error instanceof TrafficManagerError && (error.code === 'unavailable' || error.code === 'network');
}

function queryClient(key: string, signOut: (reason?: string, onlyKey?: string) => void): QueryClient {
  const unauthorized = (error: unknown) => {
    if (error instanceof TrafficManagerError && error.code === 'unauthorized') signOut('The key was refused (401): it was revoked or is unknown. Sign in again.', key);
  };
  return new QueryClient({
    queryCache: new QueryCache({ onError: unauthorized }),
    mutationCache: new MutationCache({ onError: unauthorized }),
    defaultOptions: { queries: { retry, staleTime: 2_000, refetchOnWindowFocus: false } },
  });
}

/**
 * TanStack Query for every server read and write; a 401 anywhere signs the key out. One cache per
 * signed-in key: nothing one key read is shown to the next.
 */
function Queries({ children }: { children: ReactNode }) {
  const { session, signOut } = useSessionContext();
  const key = session?.apis.key;
  const client = useMemo(() => (key === undefined ? null : queryClient(key, signOut)), [key, signOut]);
  if (!client) return <>{children}</>;
  return <QueryClientProvider client={client}>{children}</QueryClientProvider>;
}

function App({ config }: { config: ConsoleConfig }) {
  return (
    <SessionProvider config={config}>
      <Queries>
        <WatchHubProvider>
          <RouterProvider router={router} />
        </WatchHubProvider>
      </Queries>
    </SessionProvider>
  );
}

const root = createRoot(document.getElementById('root') as HTMLElement);
loadConfig().then(
  (config) =>
    root.render(
      <StrictMode>
        <App config={config} />
      </StrictMode>,
    ),
  (e: unknown) =>
    root.render(
      <main className="boot-error" role="alert">
        <h1>Traffic Manager console</h1>
        <p>{e instanceof Error ? e.message : String(e)}</p>
      </main>,
    ),
);
