import type { ScoringProbeSpec } from '../endpoints/ManagedEndpoint';

/** Calls an endpoint's scoring URI with a key (port; `HttpScoringProbe` is the fetch adapter). */
export interface ScoringProbe {
  /**
   * Sends the probe request with `Authorization: Bearer <key>` and returns the HTTP status.
   * Network failures and calls that take longer than `timeoutMs` reject.
   */
  call(scoringUri: string, key: string, spec: ScoringProbeSpec, timeoutMs: number): Promise<number>;
}
