import { randomBytes } from 'node:crypto';

/** Options of {@link FailureBackoff}. */
export interface FailureBackoffOptions {
  /** Failures allowed before backing off. @default 5 */
  freeAttempts?: number;
  /** First pause. @default 1000 */
  baseDelayMs?: number;
  /** Longest pause (the cap). @default 60000 */
  maxDelayMs?: number;
  /** A counter without failures for this long starts over. @default 900000 */
  forgetAfterMs?: number;
  /** Counters in the table, rounded up to a power of two (24 bytes each). @default 65536 */
  counters?: number;
  /**
   * Seed of the hash that picks each id's counter (a 32-bit integer). Random by default, so that a caller
   * cannot work out ids that share a client's counter; tests fix it, so that which ids share one (about one
   * pair in 65,536) is the same on every run. @default 4 random bytes
   */
  seed?: number;
}

/**
 * Exponential backoff after repeated bad secrets for one client id: after `freeAttempts` failures each
 * further failure doubles the pause (1 s, 2 s, 4 s … capped at 60 s); a success resets it. Keyed by the
 * *presented* id, so unknown ids back off exactly like known ones.
 *
 * Ids are caller-chosen, so they share a fixed table of counters, each id the one a seeded hash of it
 * picks ({@link counterOf}), rather than each having an entry that others could push out: failures for
 * made-up ids can never reset a client's backoff (an LRU of ids let ~10,000 failures for other ids
 * forget it), and they cannot forget an unknown id's backoff either, so nothing lets a flood tell which
 * ids are registered. Ids that share a counter share its backoff: a failure only ever adds to another
 * id's count, and a success (its holder's right secret, which is never refused for a backoff) clears it.
 */
export class FailureBackoff {
  private readonly failures: Float64Array;
  private readonly lastFailureMs: Float64Array;
  private readonly blockedUntilMs: Float64Array;
  private readonly mask: number;
  private readonly seed: number;
  private readonly freeAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;

  constructor(options: FailureBackoffOptions = {}) {
    this.freeAttempts = options.freeAttempts ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 900_000;
    this.seed = (options.seed ?? randomBytes(4).readInt32LE()) | 0;
    const counters = 2 ** Math.ceil(Math.log2(Math.max(1, options.counters ?? 65_536)));
    this.mask = counters - 1;
    this.failures = new Float64Array(counters);
    this.lastFailureMs = new Float64Array(counters);
    this.blockedUntilMs = new Float64Array(counters);
  }

  /** The counter `clientId` backs off on (FNV-1a from a random seed, then murmur3's finaliser). */
  counterOf(clientId: string): number {
    let h = this.seed ^ 0x811c9dc5;
    for (let i = 0; i < clientId.length; i++) h = Math.imul(h ^ clientId.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.mask;
  }

  /** Seconds an id on `counter` must still wait (0 when it may try now). */
  retryAfterSeconds(counter: number, now: number): number {
    const blockedUntilMs = this.blockedUntilMs[counter] ?? 0;
    if (now >= blockedUntilMs) return 0;
    return Math.max(1, Math.ceil((blockedUntilMs - now) / 1000));
  }

  /** Counts a failure; returns the seconds to wait before the next try (0 while attempts are free). */
  recordFailure(counter: number, now: number): number {
    if (now - (this.lastFailureMs[counter] ?? 0) > this.forgetAfterMs) {
      this.failures[counter] = 0;
      this.blockedUntilMs[counter] = 0;
    }
    const failures = (this.failures[counter] ?? 0) + 1;
    this.failures[counter] = failures;
    this.lastFailureMs[counter] = now;
    const over = failures - this.freeAttempts;
    if (over <= 0) return 0;
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(over - 1, 30));
    this.blockedUntilMs[counter] = now + delay;
    return Math.ceil(delay / 1000);
  }

  /** Forgets the counter's failures (after a success). */
  reset(counter: number): void {
    this.failures[counter] = 0;
    this.blockedUntilMs[counter] = 0;
  }
}
