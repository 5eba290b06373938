/** Options of {@link ColdReadBudget}. */
export interface ColdReadBudgetOptions {
  /** Reads per second, sustained (at least 1). @default 20 */
  perSecond?: number;
  /** Reads allowed at once after a quiet spell. @default 10 × `perSecond` */
  burst?: number;
}

/** How long a refused read makes every refused authentication answer "busy" (see `busyRetryAfterSeconds`). */
const BUSY_MS = 1000;

/**
 * The process's allowance of client registry reads for ids it does not hold as a registered client's:
 * a token bucket, so a flood of made-up client ids costs Table storage at most `perSecond` reads a second
 * (after a first `burst`), not one read per id. Reads of registered clients it holds are never held back:
 * they are bounded by the number of clients, and a disabled client must be seen within the cache TTL
 * whatever the flood; one that a refused request caused is counted as an unknown id's would be, so that
 * the budget tells nothing about which ids are registered.
 */
export class ColdReadBudget {
  private readonly perMs: number;
  private readonly burst: number;
  private tokens = 0;
  private updatedMs = -Infinity;
  private refusedAtMs = -Infinity;

  constructor(options: ColdReadBudgetOptions = {}) {
    const perSecond = options.perSecond ?? 20;
    if (!(perSecond >= 1)) throw new RangeError('perSecond must be at least 1');
    this.perMs = perSecond / 1000;
    this.burst = Math.max(1, options.burst ?? perSecond * 10);
  }

  /** Takes one read: false when none is left, and then {@link busyRetryAfterSeconds} is 1 for a second. */
  take(now: number): boolean {
    if (now > this.updatedMs) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.updatedMs) * this.perMs);
      this.updatedMs = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.refusedAtMs = now;
    return false;
  }

  /**
   * Seconds a refused authentication asks its client to wait: 1 within a second after a read was
   * refused (a read is back by then, at `perSecond` ≥ 1), else 0.
   */
  busyRetryAfterSeconds(now: number): number {
    return now - this.refusedAtMs < BUSY_MS ? 1 : 0;
  }
}
