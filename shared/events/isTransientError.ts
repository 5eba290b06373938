import { AppError, DependencyUnavailableError } from '../errors';
import { isNetworkErrorCode } from '../networkErrors';

const TRANSIENT_STATUS = new Set([408, 429, 500, 502, 503, 504]);
/**
 * True for failures worth a retry: our `DependencyUnavailableError`, or a raw SDK error with a
 * throttling/5xx status or a network error code (STYLE C5: one named predicate). Our other `AppError`s
 * are definite answers, even `DependencyFailedError` (502 = "the dependency said no").
 */
export function isTransientError(error: unknown): boolean {
  if (error instanceof DependencyUnavailableError) return true;
  if (error instanceof AppError) return false;
  const e = error as { statusCode?: unknown; code?: unknown } | null;
  if (typeof e?.statusCode === 'number') return TRANSIENT_STATUS.has(e.statusCode);
  return isNetworkErrorCode(e?.code);
}
