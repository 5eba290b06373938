import type { V1ServiceLookup } from '../../../shared/broker/resolveV1Scope';
import { untilAborted } from '../../../shared/clock';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import type { V1ServiceDescription } from '../../../shared/v1/ModelManagementClient';
import { Gate } from '../../support/Gate';

/**
 * v1 web services' auth flags in a map (by endpoint id); counts reads; can fail like a region outage,
 * or hold its answers (a closed `answers` gate) like a region that has stopped answering.
 */
export class FakeV1Services implements V1ServiceLookup {
  readonly services = new Map<string, V1ServiceDescription>();
  reads = 0;
  /** Thrown by every describe while set (e.g. a connection reset: the region is down). */
  failWith: Error | undefined;
  readonly answers = new Gate();
  /** The signal each describe was handed, in call order. */
  readonly signals: Array<AbortSignal | undefined> = [];

  set(endpointId: string, flags: Partial<V1ServiceDescription> & { computeType: string }): void {
    this.services.set(endpointId, {
      authEnabled: flags.computeType === 'AKS',
      tokenAuthEnabled: false,
      scoringUri: `https://v1.test/${endpointId}/score`,
      ...flags,
    });
  }

  async describe(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<V1ServiceDescription> {
    this.reads++;
    this.signals.push(abortSignal);
    // A held answer ends when the read's signal fires, as the pipeline's request does.
    await untilAborted(this.answers.pass(), abortSignal);
    if (this.failWith !== undefined) throw this.failWith;
    const service = this.services.get(endpoint.id);
    if (!service) throw Object.assign(new Error('not found'), { name: 'RestError', statusCode: 404 });
    return service;
  }
}
