import { untilAborted } from '../../../shared/clock';
import type { ScoringProbeSpec } from '../../../shared/endpoints/ManagedEndpoint';
import type { ScoringProbe } from '../../../shared/rotation/ScoringProbe';
import type { FakeEndpointKeyClient } from './FakeEndpointKeyClient';
import { type HeldCall, NextCallHold } from './NextCallHold';

/** Scores against the fake endpoints: 200 for a current, propagated key, else 401 (or whatever `forceStatus` says). */
export class FakeScoringProbe implements ScoringProbe {
  /** Every call: where it went, what it answered, and the time limit the caller gave it. */
  readonly calls: Array<{ scoringUri: string; status: number; timeoutMs: number }> = [];
  /** The signal each call was handed (in call order, held calls included). */
  readonly signals: Array<AbortSignal | undefined> = [];
  /** Answer this status to every call (e.g. 401 to simulate an endpoint that keeps rejecting). */
  forceStatus: number | undefined;

  private readonly nextCall = new NextCallHold();

  constructor(private readonly keys: FakeEndpointKeyClient) {}

  /**
   * Makes the next call wait (a slow scoring URI) until the returned `release` is called; `reached`
   * resolves once that call is waiting. Later calls are not held. A held call ends as fetch does when
   * its signal fires: rejected with the signal's reason, answering nothing.
   */
  holdNextCall(): HeldCall {
    return this.nextCall.hold();
  }

  async call(
    scoringUri: string,
    key: string,
    _spec: ScoringProbeSpec,
    timeoutMs: number,
    abortSignal?: AbortSignal,
  ): Promise<number> {
    this.signals.push(abortSignal);
    await untilAborted(this.nextCall.pass(), abortSignal);
    const endpointId = /^https:\/\/scoring\.test\/([^/]+)\/score$/.exec(scoringUri)?.[1] ?? '';
    const status = this.forceStatus ?? (this.keys.accepts(endpointId, key) ? 200 : 401);
    this.calls.push({ scoringUri, status, timeoutMs });
    return status;
  }
}
