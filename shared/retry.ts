import { abortableSleep, type Sleep, TimeLimitError } from './clock';
import { AppError, DependencyFailedError, DependencyUnavailableError } from './errors';
import { isNetworkErrorCode, statusOf } from './networkErrors';

/** Options of {@link withRetries}. */
export interface RetryOptions {
  /** Name used in errors and logs: `arm`, `keyVault`, `tables`, `queue`. */
  readonly dependency: string;
  readonly sleep: Sleep;
  /** Attempts in total, first one included. @default 3 */
  readonly attempts?: number;
  /** Delay when the service gave no `Retry-After`. Doubles per attempt. @default 1000 */
  readonly baseDelayMs?: number;
  /** Longest wait honoured, whatever `Retry-After` says (beyond it the job is better retried by the queue). @default 60000 */
  readonly maxDelayMs?: number;
  /**
   * The caller's: once it fires, a failure is not tried again (the call it aborted would only fail again),
   * and a pause between two tries ends at once, rejecting with the signal's reason.
   */
  readonly abortSignal?: AbortSignal;
}

/** Statuses that mean "busy or down right now": timeout, throttling, server failures that pass. */
const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/**
 * True for failures worth another try later: our `DependencyUnavailableError`, a raw SDK error with a
 * transient status, a network error code, or an aborted, timed-out or unanswered ({@link TimeLimitError})
 * call. Our other `AppError`s are definite answers, even `DependencyFailedError` (502 = "the dependency
 * said no"). The rotation's retries, the Event Grid webhook (5xx, so Event Grid delivers again) and the
 * HTTP layer's 503 all decide by this.
 */
export function isTransientError(error: unknown): boolean {
  if (error instanceof DependencyUnavailableError || error instanceof TimeLimitError) return true;
  if (error instanceof AppError) return false;
  const e = error as { statusCode?: unknown; code?: unknown; name?: unknown } | null;
  if (!e) return false;
  if (typeof e.statusCode === 'number') return TRANSIENT_STATUS.has(e.statusCode);
  return isNetworkErrorCode(e.code) || e.name === 'AbortError' || e.name === 'TimeoutError';
}

/** The wait a failed response asked for (`Retry-After` seconds or HTTP date, or `retry-after-ms`), in ms. */
export function retryAfterMs(error: unknown, now = Date.now()): number | undefined {
  const headers = (error as { response?: { headers?: { get?(name: string): string | undefined } } } | null)
    ?.response?.headers;
  const ms = Number(headers?.get?.('retry-after-ms') ?? headers?.get?.('x-ms-retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers?.get?.('retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Runs `operation`, retrying transient failures (408/429/5xx/network) a bounded number of times and
 * honouring `Retry-After`. The Azure SDK pipelines already retry up to 3 times underneath (their
 * throttling policy honours `Retry-After` too), so the worst case per call is `attempts × 4` HTTP
 * requests — bounded, and each retry layer waits as the service asked. Definite answers (other 4xx)
 * are not retried and become `DependencyFailedError`; exhausted retries become
 * `DependencyUnavailableError` carrying the last `Retry-After` so the queue can back off. Errors of
 * our own (`AppError`s thrown inside `operation`) pass through untouched.
 * @example await withRetries(() => client.listKeys(rg, ws, name), { dependency: 'arm', sleep })
 */
export async function withRetries<T>(operation: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? 3;
  const maxDelay = options.maxDelayMs ?? 60_000;
  let delay = options.baseDelayMs ?? 1000;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation();
    } catch (error) {
      if (options.abortSignal?.aborted) throw error;
      if (!isTransientError(error) || error instanceof DependencyUnavailableError)
        throw translate(error, options.dependency);
      const asked = retryAfterMs(error);
      if (attempt >= attempts || (asked !== undefined && asked > maxDelay))
        throw new DependencyUnavailableError(
          options.dependency,
          `${options.dependency} is unavailable (${describe(error)}).`,
          {
            cause: error,
            retryAfterSeconds: Math.ceil((asked ?? delay) / 1000),
          },
        );
      // The pause ends when the caller gives the call up, timer and all: a run out of its budget must not
      // sit out a Retry-After of up to a minute, then send once more. It fails with the signal's reason, as
      // a call the signal reached does.
      await abortableSleep(options.sleep, asked ?? delay, options.abortSignal);
      delay *= 2;
    }
  }
}

/** Maps a definite failure to `DependencyFailedError` (our own errors pass through). */
function translate(error: unknown, dependency: string): unknown {
  const status = statusOf(error);
  if (status === undefined || error instanceof DependencyFailedError) return error;
  if ((error as { name?: string }).name !== 'RestError') return error;
  return new DependencyFailedError(
    dependency,
    `${dependency} refused the request (${describe(error)}).`,
    status,
    { cause: error },
  );
}

/** Status and error code only: SDK messages can echo request details. */
function describe(error: unknown): string {
  const e = error as { statusCode?: number; code?: string; name?: string } | null;
  return [e?.statusCode !== undefined ? `HTTP ${e.statusCode}` : undefined, e?.code ?? e?.name]
    .filter(Boolean)
    .join(' ');
}
