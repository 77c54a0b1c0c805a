import { useEffect, useState } from 'react';

/** Date.now(), refreshed every `ms` (relative times tick without a render per frame). */
export function useClock(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** "12 s ago", "3 min ago", "2 h ago", "4 days ago" (a time a little ahead of this clock: "just now"). */
export function relativeTime(at: number, now: number): string {
  const s = Math.round((now - at) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} days ago`;
}

/** An instant as an absolute local time, for a title or a column next to the relative one. */
export function absoluteTime(at: number): string {
  return new Date(at).toLocaleString();
}
