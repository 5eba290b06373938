import type { BrokerEndpointLookup } from '../../../shared/broker/module';
import { untilAborted } from '../../../shared/clock';
import type { FileEntryClash } from '../../../shared/endpoints/EndpointRegistry';
import type { AuthMode, ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { EndpointRecordUnreadableError } from '../../../shared/rotation/errors';
import { Gate } from '../../support/Gate';

/**
 * Endpoints in a map; `failing` simulates an outage, a closed `answers` gate a registry whose answers
 * do not arrive (read, then held until the read's signal fires, as the SDK's request ends), `unreadable`
 * rows edited by hand (id → what is wrong), as the Table registry answers them, and `clashes` the
 * `ENDPOINTS_FILE` entries rows collide with (id → clash). `signals` holds the signal each read was handed.
 */
export class InMemoryEndpointLookup implements BrokerEndpointLookup {
  readonly endpoints = new Map<string, ManagedEndpoint>();
  reads = 0;
  readonly signals: Array<AbortSignal | undefined> = [];
  failing = false;
  readonly unreadable = new Map<string, string>();
  readonly answers = new Gate();
  readonly clashes = new Map<string, FileEntryClash>();
  clashQuestions = 0;
  async get(id: string, abortSignal?: AbortSignal): Promise<ManagedEndpoint | undefined> {
    this.reads++;
    this.signals.push(abortSignal);
    if (this.failing) throw new Error('registry down');
    const why = this.unreadable.get(id);
    if (why !== undefined) throw new EndpointRecordUnreadableError(id, why);
    const endpoint = this.endpoints.get(id);
    await untilAborted(this.answers.pass(), abortSignal);
    return endpoint;
  }
  async fileEntryClash(endpoint: Pick<ManagedEndpoint, 'id'>): Promise<FileEntryClash | undefined> {
    this.clashQuestions++;
    if (this.failing) throw new Error('registry down');
    return this.clashes.get(endpoint.id);
  }
  add(endpoint: ManagedEndpoint): ManagedEndpoint {
    this.endpoints.set(endpoint.id, endpoint);
    return endpoint;
  }
}

/** A managed endpoint with sensible defaults. */
export function testEndpoint(
  id: string,
  authMode: AuthMode,
  overrides: Partial<ManagedEndpoint> = {},
): ManagedEndpoint {
  return {
    id,
    kind: 'onlineEndpoint',
    arm: {
      subscriptionId: '00000000-0000-0000-0000-000000000001',
      resourceGroup: 'rg',
      workspace: 'ws',
      name: id,
    },
    authMode,
    secretName: `${id}-key`,
    rotationPeriodHours: 720,
    gracePeriodHours: 25,
    probe: { method: 'POST', path: '', body: '{}', acceptedStatuses: [200] },
    brokerKeyAccess: false,
    enabled: true,
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
    ...overrides,
  };
}
