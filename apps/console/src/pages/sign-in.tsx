import { useState, type FormEvent } from 'react';
import { useSessionContext } from '../session';
import { ErrorNotice } from '../errors';

/** Sign in with an API key (or the admin token); the key stays in this tab only. */
export function SignInPage() {
  const { signIn, endedBecause } = useSessionContext();
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    signIn(key.trim()).then(
      () => setKey(''),
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };
  return (
    <main id="main" className="sign-in">
      <h1>Traffic Manager console</h1>
      {endedBecause && (
        <div role="alert" className="notice notice-warning" data-testid="signed-out-reason">
          {endedBecause}
        </div>
      )}
      <form onSubmit={submit} aria-labelledby="sign-in-title">
        <h2 id="sign-in-title">Sign in</h2>
        <p>
          Use an API key or the admin token. It is kept in this tab only (session storage) and sent to the command API and the resolver
          as <code>Authorization: Bearer</code>; it never goes into a URL.
        </p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          name="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          required
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <button type="submit" disabled={busy || key.trim() === ''}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      {error !== null && <ErrorNotice error={error} />}
    </main>
  );
}
