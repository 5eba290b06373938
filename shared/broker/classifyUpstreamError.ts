import { TimeLimitError } from '../clock';
import { isNetworkErrorCode } from '../networkErrors';
import { retryAfterMs } from '../retry';
import { ArmThrottledError } from '../rotation/errors';
import { UpstreamTokenError } from './errors';
import type { UpstreamClass, UpstreamFailure } from './UpstreamToken';

const CREDENTIAL_UNAVAILABLE = new Set(['CredentialUnavailableError', 'AggregateAuthenticationError']);

/** The parts of SDK errors (`RestError`, identity's `AuthenticationError`) this classifier reads. */
interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
}

function failureForStatus(status: number): UpstreamFailure {
  if (status === 429) return 'throttled';
  if (status === 408 || status >= 500) return 'serverError';
  if (status === 401 || status === 403) return 'denied';
  if (status === 404) return 'notFound';
  return 'rejected';
}

/**
 * Turns whatever an SDK threw into an `UpstreamTokenError` naming the failure class (one
 * named predicate for transient failures). Only the class, status and retry hint survive; the SDK's
 * message and response body stay in `cause`, which is never rendered or logged.
 * @param upstream - which upstream failed
 * @param error - the thrown value
 */
export function classifyUpstreamError(upstream: UpstreamClass, error: unknown): UpstreamTokenError {
  if (error instanceof UpstreamTokenError) return error;
  if (error instanceof TimeLimitError) return new UpstreamTokenError(upstream, 'timeout', { cause: error });
  // ARM's `token` is a write: the app's ARM write gate holds it back, unsent, while ARM throttles writes.
  if (error instanceof ArmThrottledError) {
    return new UpstreamTokenError(upstream, 'throttled', {
      cause: error,
      ...(error.retryAfterSeconds !== undefined ? { retryAfterSeconds: error.retryAfterSeconds } : {}),
    });
  }
  const e = (error ?? {}) as SdkErrorShape;
  const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
  let failure: UpstreamFailure = 'unknown';
  if (status !== undefined) failure = failureForStatus(status);
  else if (isNetworkErrorCode(e.code)) failure = 'network';
  // The only aborts are the app's own time limits (the cache's, or the transport's on one try).
  else if (e.name === 'AbortError') failure = 'timeout';
  else if (typeof e.name === 'string' && CREDENTIAL_UNAVAILABLE.has(e.name))
    failure = 'credentialUnavailable';
  const retryAfterMillis = retryAfterMs(error);
  const retryAfter = retryAfterMillis === undefined ? undefined : retryAfterMillis / 1000;
  return new UpstreamTokenError(upstream, failure, {
    cause: error,
    ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
    ...(status !== undefined ? { status } : {}),
  });
}
