import { useEffect, useMemo, useState } from 'react';
import { describeError } from './describe-error';

export { describeError };

/** Seconds until `at` (Date.now() ms), counting down. */
function useSecondsUntil(at: number | undefined): number | undefined {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (at === undefined) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [at]);
  return at === undefined ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** An error, in words, with a retry button once the server's Retry-After has passed. */
export function ErrorNotice({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const described = useMemo(() => describeError(error), [error]);
  const seconds = useSecondsUntil(described.retryAt);
  return (
    <div role="alert" className="notice notice-error">
      <strong>{described.title}</strong>
      <p>{described.detail}</p>
      {seconds !== undefined && <p>{seconds > 0 ? `Try again in ${seconds} s.` : 'You may try again now.'}</p>}
      {onRetry && (
        <button type="button" onClick={onRetry} disabled={seconds !== undefined && seconds > 0}>
          Try again
        </button>
      )}
    </div>
  );
}
