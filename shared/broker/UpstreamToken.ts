/**
 * What the broker fetches from upstream, and the port every upstream adapter implements.
 * Times are epoch milliseconds inside the broker; the protocol modules convert to each wire format.
 */

/** Where a brokered credential comes from. Named in 503 bodies, audit rows and telemetry. */
export const UPSTREAM_CLASSES = ['amlToken', 'managedIdentity', 'keyVault', 'v1ServiceToken'] as const;
export type UpstreamClass = (typeof UPSTREAM_CLASSES)[number];

/**
 * Why an upstream call gave no usable token. Transient classes (`network`, `timeout`, `throttled`,
 * `serverError`, `credentialUnavailable`) are retried after a short pause; the rest after a long one.
 */
export const UPSTREAM_FAILURES = [
  'network',
  'timeout',
  'throttled',
  'serverError',
  'credentialUnavailable',
  'denied',
  'notFound',
  'rejected',
  'badResponse',
  'tooShortLived',
  'unknown',
] as const;
export type UpstreamFailure = (typeof UPSTREAM_FAILURES)[number];

const TRANSIENT: ReadonlySet<UpstreamFailure> = new Set([
  'network',
  'timeout',
  'throttled',
  'serverError',
  'credentialUnavailable',
  'unknown',
]);

/** True when the failure class is worth retrying soon. */
export function isTransientFailure(failure: UpstreamFailure): boolean {
  return TRANSIENT.has(failure);
}

/**
 * An Azure ML token time (`expiryTimeUtc`, `refreshAfterTimeUtc`, v1 `expiryOn`, `refreshAfter`) in epoch
 * milliseconds. The REST docs do not state the unit; the SDKs read seconds, so seconds it is, except
 * that a value above 1e12 (a seconds value that far lies past the year 33,000) is already milliseconds
 * read as seconds, it would be cached as valid for millennia and never refreshed.
 */
export function epochSecondsToMs(value: number): number {
  return value > 1e12 ? value : value * 1000;
}

/** A credential as an upstream issued it. */
export interface UpstreamToken {
  /** The token or key; never logged. */
  readonly value: string;
  /** When it stops working (epoch ms). */
  readonly expiresOnMs: number;
  /** When the issuer wants it refreshed (epoch ms), if it says. */
  readonly refreshAfterMs?: number;
}

/**
 * One upstream issuer. Implementations translate SDK failures into `UpstreamTokenError`
 * with a failure class; they do not cache (the `TokenCache` does).
 */
export interface UpstreamTokenSource<TTarget> {
  /** Which upstream this is, for errors, audit and telemetry. */
  readonly upstream: UpstreamClass;
  /**
   * Fetches a fresh credential for `target`.
   * @param target - an endpoint or a resource URI, depending on the source
   * @param abortSignal - fires when the cache gives the call up; passed to the SDK call, which then
   *   closes its request instead of leaving it open
   */
  getToken(target: TTarget, abortSignal?: AbortSignal): Promise<UpstreamToken>;
}
