import type { BrokerCall } from './brokerClient';

/** A period during which something the broker needs (managed identity, ARM, Table storage) was made to fail. */
export interface UpstreamFault {
  readonly what: string;
  readonly from: number;
  /** Undefined while the fault is still on. */
  to?: number;
}

/**
 * How long after an upstream recovers a 503 is still expected: the cache rests after a failed fetch
 * (2 s, or the upstream's Retry-After, here ≤ 5 s) and a fetch started during the fault may still be
 * inside the SDK's own retries (ARM pipeline: 3 retries with exponential backoff).
 */
export const RECOVERY_MS = 15_000;
/** Clock skew between the host's view of a token's expiry and ours (expires_in is whole seconds). */
const SLACK_MS = 1_500;

/**
 * The documented outage window (issue 7, "Upstream tokens"): a broker answer of 5xx is correct only
 * when it is `503` with `Retry-After`, while an upstream of the token is failing (from the fault's
 * start until {@link RECOVERY_MS} after it ends), and when the host has no cached token with at
 * least the minimum lifetime left — i.e. the last token it issued to this client expires within the
 * minimum lifetime (or it never issued one: a host that started during the fault). Anything else —
 * a 500, a 503 without Retry-After, a 503 while a servable token exists or no upstream is failing —
 * is outside the window and counts against the goal of zero.
 */
export function insideOutageWindow(
  call: BrokerCall,
  faults: readonly UpstreamFault[],
  minLifetimeMs: number,
): boolean {
  if (call.status !== 503 || call.retryAfter === undefined) return false;
  const upstreamFailing = faults.some(
    (f) => call.at >= f.from && call.at <= (f.to ?? Number.POSITIVE_INFINITY) + RECOVERY_MS,
  );
  const noServableToken =
    call.lastIssuedExpiry === undefined || call.at >= call.lastIssuedExpiry - minLifetimeMs - SLACK_MS;
  return upstreamFailing && noServableToken;
}
