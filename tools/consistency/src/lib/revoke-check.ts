import type { FaultWindow, Op } from './history';
import type { WatcherLog } from './watchers';

/**
 * Rule R's slack beyond AUTH_CACHE_TTL_MS, ms. A resolver trusts a verified key for the TTL from when
 * its verification's answer came back, so a verification whose query read the key just before the
 * revocation committed is trusted until one database round trip after the commit, plus the TTL. Here
 * that round trip is a local PostgreSQL's (a few ms), stretched by the scheduling of a loaded 2-core
 * machine (tens of ms); a watch frame also has to travel to the checker (same machine) and be read by
 * its event loop. `revokedAt` is when the DELETE's answer reached the checker, after the commit, which
 * only adds to the margin. 250 ms covers all of that several times over and is a quarter of the short
 * run's TTL (1 s), so the rule still bites within a 3 s fault.
 */
export const REVOCATION_SLACK_MS = 250;

export interface RevocationFinding {
  message: string;
  ops: Op[];
}

/** What one revocation looked like from the victim's side (ms after `revokedAt`; null: nothing of the kind). */
export interface RevocationSummary {
  credential: string;
  revokedAt: number;
  /** The first refusal (401 or 403) of a request with the key, when its answer came (before revokedAt: the DELETE had committed, its answer was on its way). */
  firstRefused: number | null;
  /** The latest start, after revokedAt, of a request with the key that was accepted (outside the outages that excuse it). */
  lastAccepted: number | null;
  /** The latest watch frame with the key (outside the outages that excuse it). */
  lastFrame: number | null;
  /** When the last of its streams open at the revocation ended (as the watcher saw it). */
  streamsEnded: number | null;
  /** Requests with the key (reads and watch connections) that started after the bound, and how many of them were refused. */
  after: number;
  refused: number;
}

export interface RevocationOptions {
  /** The resolvers' AUTH_CACHE_TTL_MS. */
  authCacheTtlMs: number;
  slackMs?: number;
}

/** Answered, and not as a refusal of the key (401, 403) nor as a failure (5xx): the key was accepted. */
const accepted = (status: number | null): boolean => status !== null && status < 500 && status !== 401 && status !== 403;
const refusal = (status: number | null): boolean => status === 401 || status === 403;

/**
 * Rule R (docs/guarantees.md, "Tenancy": a revoked key stops everywhere): for each `revoke` window,
 * with bound = revokedAt + AUTH_CACHE_TTL_MS + slack, no request with that key that started after the
 * bound is accepted (anything but 401, 403, 5xx or no answer: a 404 or a 410 means the key passed), and
 * no watch frame with it (a change, a bookmark, a snapshot) arrives after the bound. A stream opened
 * after the revocation (before the bound, by a replica that still trusted the key) is the revocation's
 * to end within the TTL of its opening: its frames are held to that.
 *
 * Outage credentials: while PostgreSQL is unreachable a resolver authenticates the keys recorded in
 * Redis at their verification, and a key revoked and not verified since is still recorded (the
 * documented limit); a key recalled so is trusted for the TTL, and its streams end at the first check
 * after the database is back. So within a postgres-cut whose window lists the key as remembered when
 * the cut began (or does not say: runs saved before), up to its heal + the TTL + slack, the key may
 * read and stream. A cut that found its record deleted excuses nothing.
 */
export function checkRevocations(
  history: Op[],
  faults: FaultWindow[],
  watchers: WatcherLog[],
  options: RevocationOptions,
): { findings: RevocationFinding[]; summaries: RevocationSummary[] } {
  const ttl = options.authCacheTtlMs;
  const slack = options.slackMs ?? REVOCATION_SLACK_MS;
  const findings: RevocationFinding[] = [];
  const summaries: RevocationSummary[] = [];
  const s = (ms: number) => `${Math.round(ms)} ms`;
  for (const w of faults) {
    const { credential, revokedAt } = w;
    if (w.fault !== 'revoke' || credential === undefined || revokedAt === undefined) continue;
    const bound = revokedAt + ttl + slack;
    const outages = faults
      .filter((f) => f.fault === 'postgres-cut' && f.healed >= revokedAt && (f.remembered === undefined || f.remembered.includes(credential)))
      .map((f) => [f.start, f.healed + ttl + slack] as const);
    const excused = (start: number, end: number) => outages.some(([from, to]) => end >= from && start <= to);
    const summary: RevocationSummary = { credential, revokedAt, firstRefused: null, lastAccepted: null, lastFrame: null, streamsEnded: null, after: 0, refused: 0 };
    const latest = (current: number | null, t: number) => Math.max(current ?? -Infinity, t - revokedAt);
    const after = (t: number) => `${s(t - revokedAt)} after ${credential} was revoked`;
    const limit = `the bound: ${s(ttl)} + ${s(slack)}`;
    const request = (start: number, end: number, status: number | null, what: string, ops: Op[]) => {
      if (end < w.start) return;
      if (refusal(status)) summary.firstRefused = Math.min(summary.firstRefused ?? Infinity, end - revokedAt);
      if (start < revokedAt) return;
      if (start > bound) {
        summary.after++;
        if (refusal(status)) summary.refused++;
      }
      if (!accepted(status) || excused(start, end)) return;
      summary.lastAccepted = latest(summary.lastAccepted, start);
      if (start > bound) findings.push({ message: `${what} that started ${after(start)} (${limit}) was answered ${status}`, ops });
    };
    for (const op of history) if (op.credential === credential) request(op.start, op.end, op.status, 'a request', [op]);
    for (const log of watchers) {
      if (log.credential !== credential) continue;
      for (const r of log.refusals ?? []) request(r.start, r.end, /^\d+$/.test(r.status) ? Number(r.status) : null, `${log.name}: a connection`, []);
      log.segments.forEach((segment, i) => {
        const { startedAt, openedAt, endedAt } = segment;
        if (startedAt !== undefined) request(startedAt, openedAt ?? startedAt, 200, `${log.name}: connection ${i + 1}, a stream,`, []);
        if (openedAt !== undefined && openedAt <= revokedAt && endedAt !== undefined && endedAt > revokedAt) summary.streamsEnded = latest(summary.streamsEnded, endedAt);
        const ends = Math.max(bound, (openedAt ?? -Infinity) + ttl + slack);
        const arrivals = [...(segment.snapshot?.at !== undefined ? [{ what: 'the snapshot', at: segment.snapshot.at }] : []), ...segment.frames.map((f) => ({ what: `${f.kind} ${f.revision}`, at: f.at }))];
        const over = arrivals.filter((f) => f.at > revokedAt && !excused(f.at, f.at));
        for (const f of over) summary.lastFrame = latest(summary.lastFrame, f.at);
        const beyond = over.filter((f) => f.at > ends);
        const first = beyond[0];
        if (first) {
          const from = openedAt !== undefined && openedAt > revokedAt ? ` from the stream's opening, ${after(openedAt)}` : '';
          const more = beyond.length > 1 ? `, and ${beyond.length - 1} more frames` : '';
          findings.push({ message: `${log.name}: connection ${i + 1} received ${first.what} ${after(first.at)} (${limit}${from})${more}`, ops: [] });
        }
      });
    }
    summaries.push(summary);
  }
  return { findings, summaries };
}
