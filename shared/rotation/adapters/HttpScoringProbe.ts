import type { ScoringProbeSpec } from '../../endpoints/ManagedEndpoint';
import type { ScoringProbe } from '../ScoringProbe';

/** Options of {@link HttpScoringProbe}. */
export interface HttpScoringProbeOptions {
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * `ScoringProbe` over `fetch`: sends the probe with `Authorization: Bearer <key>` (how Azure ML scoring
 * URIs take keys) and returns the status. The body is drained and never read into a log.
 */
export class HttpScoringProbe implements ScoringProbe {
  constructor(private readonly options: HttpScoringProbeOptions = {}) {}

  async call(
    scoringUri: string,
    key: string,
    spec: ScoringProbeSpec,
    timeoutMs: number,
    abortSignal?: AbortSignal,
  ): Promise<number> {
    const doFetch = this.options.fetch ?? fetch;
    // Whichever comes first ends the request and the drain of its body: the time limit (TimeoutError) or the
    // caller giving up (its reason), so a run out of time leaves no probe open for up to `timeoutMs`.
    const timeout = AbortSignal.timeout(timeoutMs);
    const response = await doFetch(`${scoringUri}${spec.path}`, {
      method: spec.method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(spec.method === 'POST' ? { body: spec.body } : {}),
      signal: abortSignal ? AbortSignal.any([abortSignal, timeout]) : timeout,
    });
    await response.arrayBuffer().catch(() => undefined);
    return response.status;
  }
}
