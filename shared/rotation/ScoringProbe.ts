import type { ScoringProbeSpec } from '../endpoints/ManagedEndpoint';

/** Calls an endpoint's scoring URI with a key (port; `HttpScoringProbe` is the fetch adapter). */
export interface ScoringProbe {
  /**
   * Sends the probe request with `Authorization: Bearer <key>` and returns the HTTP status.
   * Network failures and calls that take longer than `timeoutMs` reject.
   * @param abortSignal - fires when the caller gave up (a rotation run out of time): the call ends at once,
   *   rejecting with the signal's reason, and its request is given up rather than left to run to `timeoutMs`
   */
  call(
    scoringUri: string,
    key: string,
    spec: ScoringProbeSpec,
    timeoutMs: number,
    abortSignal?: AbortSignal,
  ): Promise<number>;
}
