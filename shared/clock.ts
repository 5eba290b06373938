/** Time source, injected so that tests can move time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** The clock's time as an ISO 8601 string, the form every stored and published time takes. */
export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}

/**
 * Resolves after `ms` milliseconds; a port so tests and benchmarks can skip real waiting. Given a signal,
 * it may reject with the signal's reason once it fires; a fake need not, so callers that must not wait on
 * pause through {@link abortableSleep}.
 */
export type Sleep = (ms: number, abortSignal?: AbortSignal) => Promise<void>;

/**
 * The real sleep. Given a signal it clears its timer when the signal fires: a pause a caller gave up (a
 * poll's `Retry-After` when a rotation run is out of time) would otherwise keep the process up to its end.
 */
export const realSleep: Sleep = (ms, abortSignal) =>
  new Promise((resolve, reject) => {
    if (!abortSignal) {
      setTimeout(resolve, ms);
      return;
    }
    if (abortSignal.aborted) {
      reject(abortSignal.reason as Error);
      return;
    }
    const stop = () => {
      clearTimeout(timer);
      reject(abortSignal.reason as Error);
    };
    const timer = setTimeout(() => {
      abortSignal.removeEventListener('abort', stop);
      resolve();
    }, ms);
    abortSignal.addEventListener('abort', stop, { once: true });
  });

/**
 * `sleep(ms)`, ending at once with the signal's reason when `abortSignal` fires: the pause of a call its
 * caller gave up (a rotation run out of time, a token call past its limit). The signal reaches the sleep,
 * so the real one clears its timer and leaves none behind, and races it, since a fake sleep need not heed it.
 */
export function abortableSleep(
  sleep: Sleep,
  ms: number,
  abortSignal: AbortSignal | undefined,
): Promise<void> {
  return untilAborted(sleep(ms, abortSignal), abortSignal);
}

/**
 * Calls `tick` every `everyMs` until the returned function is called. A port, like {@link Sleep}, so that
 * tests drive it from a fake clock instead of waiting.
 */
export type Repeat = (everyMs: number, tick: () => void) => () => void;

/** The real repeat; it never keeps the process alive on its own. */
export const realRepeat: Repeat = (everyMs, tick) => {
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return () => clearInterval(timer);
};

/** Thrown by {@link withinTimeLimit} when the work has not finished in time. */
export class TimeLimitError extends Error {
  override readonly name = 'TimeLimitError';
  constructor(readonly limitMs: number) {
    super(`No answer within ${limitMs} ms.`);
  }
}

/**
 * The work's outcome, or a {@link TimeLimitError} once `ms` have passed: for calls that may never
 * answer (the Azure SDKs set no time limit on a request). The work itself is not stopped; its late
 * outcome is dropped.
 */
export async function withinTimeLimit<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeLimitError(ms)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * As {@link withinTimeLimit}, for work that takes a signal: past the limit the signal fires (its reason the
 * `TimeLimitError`), so that the work is given up, not left running (an SDK request holding its socket).
 * @param abortSignal - a caller's, which gives the work up too should it fire first (the signal the work is
 *   handed fires with its reason); the outcome is not raced against it. Listened to only while the work runs,
 *   so a long-lived signal keeps nothing of each call (as `AbortSignal.any` would: one kept per call, Node 20)
 */
export async function withinTimeLimitGivingUp<T>(
  work: (abortSignal: AbortSignal) => Promise<T>,
  ms: number,
  abortSignal?: AbortSignal,
): Promise<T> {
  const giveUp = new AbortController();
  const passOn = (): void => giveUp.abort(abortSignal?.reason);
  if (abortSignal?.aborted) passOn();
  else abortSignal?.addEventListener('abort', passOn, { once: true });
  try {
    return await withinTimeLimit(work(giveUp.signal), ms);
  } catch (error) {
    if (error instanceof TimeLimitError) giveUp.abort(error);
    throw error;
  } finally {
    abortSignal?.removeEventListener('abort', passOn);
  }
}

/**
 * `work`'s outcome, or the signal's reason as soon as `abortSignal` fires (its caller gave the work up):
 * for waits the signal cannot reach, such as a pause between two polls. The work goes on until it heeds
 * the signal itself; its late outcome is dropped.
 */
export async function untilAborted<T>(work: Promise<T>, abortSignal: AbortSignal | undefined): Promise<T> {
  if (!abortSignal) return work;
  if (abortSignal.aborted) {
    // Given up already: even work that has finished meanwhile is not taken up (nor its failure left unheard).
    work.catch(() => undefined);
    throw abortSignal.reason as Error;
  }
  let leave: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    leave = () => reject(abortSignal.reason as Error);
    abortSignal.addEventListener('abort', leave, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    if (leave) abortSignal.removeEventListener('abort', leave);
  }
}

/**
 * What a cache answers while one of its entries is re-read: the request that started the re-read waits
 * for it, but no longer than `waitMs`; every other request, and that one once the wait is over, gets
 * the previous answer at once. So a slow or silent store holds no request up for longer than `waitMs`.
 * @param startedHere - whether this request started the re-read
 */
export async function reReadOrPrevious<T>(
  reRead: Promise<T>,
  previous: T,
  startedHere: boolean,
  waitMs: number,
): Promise<T> {
  return startedHere && (await finishesWithin(reRead, waitMs)) ? reRead : previous;
}

/** Pause before a failed re-read is tried again while the previous answer is served. */
export const REREAD_RETRY_MS = 5000;

/**
 * The load time to give an answer kept after its re-read failed at `failedAtMs`, so that it is re-read
 * again `REREAD_RETRY_MS` later (or after `ttlMs`, if shorter), not on the next request: the time of the
 * failure, not of the read's start, since a read given up for time fails seconds after it started.
 */
export function keptAfterFailedReRead(failedAtMs: number, ttlMs: number): number {
  return failedAtMs - ttlMs + Math.min(ttlMs, REREAD_RETRY_MS);
}

/**
 * Waits for `work`, but no longer than `ms` (the work goes on past it). Rejects when the work does, in
 * time.
 * @returns whether the work finished in time
 */
export async function finishesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  try {
    await withinTimeLimit(work, ms);
    return true;
  } catch (error) {
    if (error instanceof TimeLimitError) return false;
    throw error;
  }
}
