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

  async call(scoringUri: string, key: string, spec: ScoringProbeSpec, timeoutMs: number): Promise<number> {
    const doFetch = this.options.fetch ?? fetch;
    const response = await doFetch(`${scoringUri}${spec.path}`, {
      method: spec.method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      ...(spec.method === 'POST' ? { body: spec.body } : {}),
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.arrayBuffer().catch(() => undefined);
    return response.status;
  }
}
