import type { ScoringProbeSpec } from '../../../shared/endpoints/ManagedEndpoint';
import type { ScoringProbe } from '../../../shared/rotation/ScoringProbe';
import type { FakeEndpointKeyClient } from './FakeEndpointKeyClient';

/** Scores against the fake endpoints: 200 for a current, propagated key, else 401 (or whatever `forceStatus` says). */
export class FakeScoringProbe implements ScoringProbe {
  readonly calls: Array<{ scoringUri: string; status: number }> = [];
  /** Answer this status to every call (e.g. 401 to simulate an endpoint that keeps rejecting). */
  forceStatus: number | undefined;

  private held: { until: Promise<void>; reached: () => void } | undefined;

  constructor(private readonly keys: FakeEndpointKeyClient) {}

  /**
   * Makes the next call wait (a slow scoring URI) until the returned `release` is called; `reached`
   * resolves once that call is waiting. Later calls are not held.
   */
  holdNextCall(): { reached: Promise<void>; release: () => void } {
    let release = (): void => undefined;
    let reached = (): void => undefined;
    const until = new Promise<void>((resolve) => (release = resolve));
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    this.held = { until, reached };
    return { reached: reachedPromise, release };
  }

  async call(scoringUri: string, key: string, _spec: ScoringProbeSpec): Promise<number> {
    const held = this.held;
    this.held = undefined;
    if (held) {
      held.reached();
      await held.until;
    }
    const endpointId = /^https:\/\/scoring\.test\/([^/]+)\/score$/.exec(scoringUri)?.[1] ?? '';
    const status = this.forceStatus ?? (this.keys.accepts(endpointId, key) ? 200 : 401);
    this.calls.push({ scoringUri, status });
    return status;
  }
}
