/**
 * A circuit breaker for Redis on the hot path: after `threshold` consecutive failures it opens
 * for `openMs` (Redis is not asked at all, so requests do not each wait for a timeout), then lets
 * one request through to try again.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trial = false;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether Redis has been answering (fewer than `threshold` failures in a row); asking changes nothing, unlike allows(). */
  get isClosed(): boolean {
    return this.failures < this.threshold;
  }

  get isOpen(): boolean {
    return this.openUntil > this.now();
  }

  /** Whether to try Redis now. */
  allows(): boolean {
    if (this.failures < this.threshold) return true;
    if (this.isOpen) return false;
    if (this.trial) return false;
    this.trial = true;
    return true;
  }

  succeeded(): void {
    this.failures = 0;
    this.openUntil = 0;
    this.trial = false;
  }

  failed(): void {
    this.failures += 1;
    this.trial = false;
    if (this.failures >= this.threshold) this.openUntil = this.now() + this.openMs;
  }
}
