import type { UpstreamClass, UpstreamToken, UpstreamTokenSource } from '../../../shared/broker/UpstreamToken';
import type { Clock } from '../../../shared/clock';

/** What the fake answers next: a token lifetime, a thrown error, or a pending promise the test settles. */
export type FakeBehaviour =
  | { kind: 'token'; lifetimeMs: number; refreshAfterMs?: number }
  | { kind: 'error'; error: unknown }
  | { kind: 'manual' };

/**
 * A controllable upstream: counts calls, issues distinct token values (`<upstream>-token-<n>`), can
 * fail, or hold calls open until the test releases them (for single-flight tests).
 */
export class FakeUpstreamSource<T> implements UpstreamTokenSource<T> {
  calls = 0;
  readonly targets: T[] = [];
  /** The abort signal of each call, in order. */
  readonly signals: Array<AbortSignal | undefined> = [];
  behaviour: FakeBehaviour = { kind: 'token', lifetimeMs: 3_600_000 };
  private pending: Array<{ resolve(t: UpstreamToken): void; reject(e: unknown): void }> = [];

  constructor(
    readonly upstream: UpstreamClass,
    private readonly clock: Clock,
  ) {}

  async getToken(target: T, abortSignal?: AbortSignal): Promise<UpstreamToken> {
    this.calls++;
    this.targets.push(target);
    this.signals.push(abortSignal);
    const behaviour = this.behaviour;
    if (behaviour.kind === 'error') throw behaviour.error;
    if (behaviour.kind === 'manual') {
      return new Promise<UpstreamToken>((resolve, reject) => this.pending.push({ resolve, reject }));
    }
    return this.token(behaviour.lifetimeMs, behaviour.refreshAfterMs);
  }

  /** A token issued now with the given lifetime. */
  token(lifetimeMs: number, refreshAfterMs?: number): UpstreamToken {
    const now = this.clock.now();
    return {
      value: `${this.upstream}-token-${this.calls}`,
      expiresOnMs: now + lifetimeMs,
      ...(refreshAfterMs !== undefined ? { refreshAfterMs: now + refreshAfterMs } : {}),
    };
  }

  /** Settles every held call with a token (or an error). */
  release(outcome: { lifetimeMs: number } | { error: unknown }): void {
    const pending = this.pending;
    this.pending = [];
    for (const p of pending) {
      if ('error' in outcome) p.reject(outcome.error);
      else p.resolve(this.token(outcome.lifetimeMs));
    }
  }
}
