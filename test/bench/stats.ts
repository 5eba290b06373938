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
