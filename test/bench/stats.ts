/** Small pure helpers the benchmark suites share (unit-tested in test/unit/bench). */

/**
 * The median of some measurements (mean of the middle two for an even count).
 * @throws RangeError for an empty list
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** A distribution-free confidence interval for a median: two order statistics of the values. */
export interface MedianInterval {
  readonly low: number;
  readonly high: number;
  /** The interval's confidence (e.g. 0.961 for 9 values), from the binomial distribution. */
  readonly confidence: number;
}

/**
 * The interval [x(k), x(n−k+1)] of the sorted values with the largest k whose confidence is still at
 * least `confidence` (each tail is Binomial(n, ½)); undefined when there are too few values for that
 * (fewer than 6 at 95 %). No distribution is assumed, which suits machine noise.
 * @param confidence - the least confidence wanted
 * @default confidence 0.95
 */
export function medianInterval(values: readonly number[], confidence = 0.95): MedianInterval | undefined {
  const n = values.length;
  const sorted = [...values].sort((a, b) => a - b);
  let tail = 0; // P(Binomial(n, ½) ≤ k − 1)
  let chosen: MedianInterval | undefined;
  for (let k = 1; 2 * k <= n; k++) {
    tail += binomialHalf(n, k - 1);
    if (1 - 2 * tail < confidence) break;
    chosen = { low: sorted[k - 1] as number, high: sorted[n - k] as number, confidence: 1 - 2 * tail };
  }
  return chosen;
}

/** P(Binomial(n, ½) = k). */
function binomialHalf(n: number, k: number): number {
  let coefficient = 1;
  for (let i = 1; i <= k; i++) coefficient = (coefficient * (n - k + i)) / i;
  return coefficient / 2 ** n;
}

/** `value / baseline`, or undefined when the baseline is zero or not a finite number. */
export function ratio(value: number, baseline: number): number | undefined {
  return Number.isFinite(baseline) && baseline !== 0 && Number.isFinite(value) ? value / baseline : undefined;
}

/**
 * A JSON token body (`access_token`, `token_type`, `expires_in`, `scope`) of exactly `bytes` bytes,
 * for the baselines that must answer a body of the same size as the broker, without a real token.
 * @throws RangeError when `bytes` is too small for the fixed fields
 */
export function fixedTokenBody(bytes: number): string {
  const shell = (token: string): string =>
    `{"access_token":"${token}","token_type":"Bearer","expires_in":3599,"scope":"bench"}`;
  const padding = bytes - Buffer.byteLength(shell(''));
  if (padding < 1)
    throw new RangeError(`a token body needs at least ${Buffer.byteLength(shell('')) + 1} bytes`);
  return shell('x'.repeat(padding));
}

/** Whether a response body is a bearer token answer: JSON with a non-empty `access_token`. */
export function isTokenBody(body: string): boolean {
  try {
    const parsed = JSON.parse(body) as { access_token?: unknown; token_type?: unknown };
    return (
      typeof parsed.access_token === 'string' && parsed.access_token !== '' && parsed.token_type === 'Bearer'
    );
  } catch {
    return false;
  }
}

/** Headers of the broker's OAuth token answer, which the baselines send too (same bytes on the wire). */
export const TOKEN_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/json;charset=UTF-8',
  'cache-control': 'no-store',
  pragma: 'no-cache',
};
