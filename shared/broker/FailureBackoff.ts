import { LruMap } from './LruMap';

/** Options of {@link FailureBackoff}. */
export interface FailureBackoffOptions {
  /** Failures allowed before backing off. @default 5 */
  freeAttempts?: number;
  /** First pause. @default 1000 */
  baseDelayMs?: number;
  /** Longest pause (the cap). @default 60000 */
  maxDelayMs?: number;
  /** A client id without failures for this long starts over. @default 900000 */
  forgetAfterMs?: number;
  /** Client ids tracked at once (ids are caller-chosen, so this is bounded). @default 10000 */
  maxTracked?: number;
}

interface State {
  failures: number;
  lastFailureMs: number;
  blockedUntilMs: number;
}

/**
 * Exponential backoff after repeated bad secrets for one client id: after `freeAttempts` failures each
 * further failure doubles the pause (1 s, 2 s, 4 s … capped at 60 s); a success resets it. Keyed by the
 * *presented* id, so unknown ids back off exactly like known ones.
 */
export class FailureBackoff {
  private readonly states: LruMap<string, State>;
  private readonly freeAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;

  constructor(options: FailureBackoffOptions = {}) {
    this.freeAttempts = options.freeAttempts ?? 5;
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    this.forgetAfterMs = options.forgetAfterMs ?? 900_000;
    this.states = new LruMap(options.maxTracked ?? 10_000);
  }

  /** Seconds the id must still wait (0 when it may try now). */
  retryAfterSeconds(clientId: string, now: number): number {
    const state = this.states.peek(clientId);
    if (!state || now >= state.blockedUntilMs) return 0;
    return Math.max(1, Math.ceil((state.blockedUntilMs - now) / 1000));
  }

  /** Counts a failure; returns the seconds to wait before the next try (0 while attempts are free). */
  recordFailure(clientId: string, now: number): number {
    let state = this.states.get(clientId);
    if (!state || now - state.lastFailureMs > this.forgetAfterMs) {
      state = { failures: 0, lastFailureMs: now, blockedUntilMs: 0 };
      this.states.set(clientId, state);
    }
    state.failures++;
    state.lastFailureMs = now;
    const over = state.failures - this.freeAttempts;
    if (over <= 0) return 0;
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(over - 1, 30));
    state.blockedUntilMs = now + delay;
    return Math.ceil(delay / 1000);
  }

  /** Forgets the id's failures (after a success). */
  reset(clientId: string): void {
    this.states.delete(clientId);
  }
}
