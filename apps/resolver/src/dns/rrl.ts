/** Sources tracked at once; past it the table starts again (a flood of forged sources costs memory no more). */
const SOURCES_MAX = 100_000;

/**
 * Response rate limiting per source address (docs/dns.md, "Rate limiting"; as BIND's RRL, simplified):
 * a token bucket of `perSecond` answers per source. Over it, one answer in two is sent truncated and
 * empty (a real client retries over TCP, which is not limited) and the others are dropped, so a forged
 * source gets at most about `perSecond` small answers a second from this port.
 */
export class ResponseRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; slipped: boolean }>();

  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** `answer`: within the limit; `slip`: send it truncated and empty; `drop`: send nothing. */
  check(source: string): 'answer' | 'slip' | 'drop' {
    const now = this.now();
    let bucket = this.buckets.get(source);
    if (!bucket) {
      if (this.buckets.size >= SOURCES_MAX) this.buckets.clear();
      bucket = { tokens: this.perSecond, at: now, slipped: false };
      this.buckets.set(source, bucket);
    } else {
      bucket.tokens = Math.min(this.perSecond, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 'answer';
    }
    bucket.slipped = !bucket.slipped;
    return bucket.slipped ? 'slip' : 'drop';
  }
}
