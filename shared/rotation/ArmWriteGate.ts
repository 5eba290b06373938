import { abortableSleep, type Clock, realSleep, type Sleep, systemClock } from '../clock';

/** Options of {@link ArmWriteGate}. */
export interface ArmWriteGateOptions {
  /** @default systemClock */
  clock?: Clock;
  /** @default realSleep */
  sleep?: Sleep;
  /** Writes in flight per bucket once ARM has pushed back (429, or few writes remaining). @default 4 */
  pacedConcurrency?: number;
  /**
   * `x-ms-ratelimit-remaining-subscription-writes` at or below which the gate starts pacing before ARM
   * answers 429; pacing stops again above twice this. @default 20
   */
  lowWatermark?: number;
}

/** What ARM said to one write the gate let through. */
export interface WriteAnswer {
  /** Set when ARM answered 429: how long it asked to wait (`Retry-After`), in ms. */
  readonly retryAfterMs?: number;
  /** `x-ms-ratelimit-remaining-subscription-writes` of the answer, when present. */
  readonly remaining?: number;
}

/** What the gate reads of an abort signal: a DOM `AbortSignal`, or the SDK's `AbortSignalLike`. */
export interface GiveUpSignal {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

interface Bucket {
  closedUntil: number;
  inFlight: number;
  paced: boolean;
  readonly waiters: Array<() => void>;
}

/**
 * One per process, shared by every ARM write it makes (rotation's `listKeys`/`regenerateKeys`, the
 * broker's `token` calls), per ARM write bucket (subscription; the process has one identity).
 *
 * Why: ARM meters writes with a token bucket per subscription and principal (200, refilled 10/s). A
 * rotation backlog far larger than the bucket means sustained 429s. Left alone, every rotation retries
 * on its own schedule: dozens of concurrent writers hammer an empty bucket, each 429 costs a round
 * trip and one of a bounded number of retries, and unlucky rotations exhaust them and fail although
 * nothing is wrong. The gate turns that into a queue:
 * - a 429 closes the bucket for everyone until its `Retry-After` has passed (ARM does not process
 *   requests sent before that anyway);
 * - after a 429, or once the remaining-writes header runs low, at most `pacedConcurrency` writes are
 *   in flight, so the refill is consumed as it arrives without a herd of doomed requests;
 * - waiting at the gate does not use up retries; it is bounded by the caller's deadline instead (see
 *   `armWriteGatePolicy`), so a rotation never sits on its lease for long.
 * Throughput stays at the refill rate as long as writes wait here, because the bucket keeps refilling
 * while the gate is closed and is drained as soon as it opens.
 * @example if (await gate.acquire(sub, deadline)) { const r = await send(); gate.release(sub, answerOf(r)) }
 */
export class ArmWriteGate {
  private readonly buckets = new Map<string, Bucket>();
  private readonly clock: Clock;
  private readonly sleep: Sleep;
  private readonly pacedConcurrency: number;
  private readonly lowWatermark: number;

  constructor(options: ArmWriteGateOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? realSleep;
    this.pacedConcurrency = Math.max(1, options.pacedConcurrency ?? 4);
    this.lowWatermark = options.lowWatermark ?? 20;
  }

  /**
   * Waits until one write to bucket `key` may be sent. Resolves false, without waiting, when the bucket
   * stays closed past `deadline` (epoch ms), or when the deadline passed while queued. Rejects with an
   * `AbortError` as soon as `abortSignal` fires (its caller gave the write up), having taken nothing.
   * Every `true` must be followed by one {@link release}.
   */
  async acquire(key: string, deadline: number, abortSignal?: GiveUpSignal): Promise<boolean> {
    const bucket = this.bucket(key);
    // Set while this call holds the turn a release gave it: leaving without a slot, it hands it on.
    let woken = false;
    try {
      for (;;) {
        if (abortSignal?.aborted) throw abortError();
        const now = this.clock.now();
        if (bucket.closedUntil > now) {
          if (bucket.closedUntil > deadline) return false;
          await this.pause(bucket.closedUntil - now, abortSignal);
          continue;
        }
        if (bucket.paced && bucket.inFlight >= this.pacedConcurrency) {
          if (now >= deadline) return false;
          woken = false;
          await this.inLine(bucket, abortSignal);
          woken = true;
          continue;
        }
        woken = false;
        bucket.inFlight += 1;
        return true;
      }
    } finally {
      if (woken) bucket.waiters.shift()?.();
    }
  }

  /** Reports the answer to a write that {@link acquire} let through (an empty answer after a network error). */
  release(key: string, answer: WriteAnswer = {}): void {
    const bucket = this.bucket(key);
    bucket.inFlight = Math.max(0, bucket.inFlight - 1);
    if (answer.retryAfterMs !== undefined) {
      bucket.paced = true;
      bucket.closedUntil = Math.max(bucket.closedUntil, this.clock.now() + answer.retryAfterMs);
    } else if (answer.remaining !== undefined) {
      if (answer.remaining <= this.lowWatermark) bucket.paced = true;
      else if (answer.remaining > 2 * this.lowWatermark) bucket.paced = false;
    }
    bucket.waiters.shift()?.();
  }

  /** Milliseconds until bucket `key` accepts writes again (0 when open). */
  closedForMs(key: string): number {
    return Math.max(0, (this.buckets.get(key)?.closedUntil ?? 0) - this.clock.now());
  }

  /** True while writes to `key` are paced (after a 429 or a low remaining count). */
  isPaced(key: string): boolean {
    return this.buckets.get(key)?.paced ?? false;
  }

  /**
   * Sleeps `ms` (until the bucket reopens); ends at once, timer and all, with an `AbortError` when
   * `abortSignal` fires: up to a minute of `Retry-After` would otherwise outlive the write given up. The
   * sleep takes a DOM signal and the SDK's `AbortSignalLike` is none, so one of the gate's own follows it.
   */
  private async pause(ms: number, abortSignal: GiveUpSignal | undefined): Promise<void> {
    if (!abortSignal) return this.sleep(ms);
    const pause = new AbortController();
    const stop = (): void => pause.abort(abortError());
    abortSignal.addEventListener('abort', stop, { once: true });
    try {
      await abortableSleep(this.sleep, ms, pause.signal);
    } finally {
      abortSignal.removeEventListener('abort', stop);
    }
  }

  /** Waits for a release to wake this call; leaves the line, taking no turn, when `abortSignal` fires. */
  private inLine(bucket: Bucket, abortSignal: GiveUpSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        const at = bucket.waiters.indexOf(wake);
        if (at >= 0) bucket.waiters.splice(at, 1);
        reject(abortError());
      };
      const wake = (): void => {
        abortSignal?.removeEventListener('abort', leave);
        resolve();
      };
      bucket.waiters.push(wake);
      abortSignal?.addEventListener('abort', leave, { once: true });
    });
  }

  private bucket(key: string): Bucket {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { closedUntil: 0, inFlight: 0, paced: false, waiters: [] };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }
}

/** What a write given up while it waited at the gate fails with, as the SDK's aborted requests do. */
function abortError(): Error {
  return new DOMException('The write was given up while it waited at the ARM write gate.', 'AbortError');
}
