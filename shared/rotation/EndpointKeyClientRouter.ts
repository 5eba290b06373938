import type { EndpointKind, KeySlot, ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import type { EndpointDescription, EndpointKeyClient, EndpointKeys } from './EndpointKeyClient';
import { UnsupportedEndpointKindError } from './errors';

/** Kinds with a key client. */
const ROTATABLE_KINDS: ReadonlySet<EndpointKind> = new Set([
  'onlineEndpoint',
  'serverlessEndpoint',
  'v1WebService',
]);

/** True when endpoints of `kind` can be rotated. */
export function supportsRotation(kind: EndpointKind): boolean {
  return ROTATABLE_KINDS.has(kind);
}

/**
 * Dispatches to the key client of the endpoint's kind (online, serverless, v1 web service). A kind
 * without a client fails with `UnsupportedEndpointKindError`.
 */
export class EndpointKeyClientRouter implements EndpointKeyClient {
  constructor(private readonly byKind: Partial<Record<EndpointKind, EndpointKeyClient>>) {}

  setsKeyValue(endpoint: ManagedEndpoint): boolean {
    const client = this.client(endpoint);
    return client.setsKeyValue?.(endpoint) ?? true;
  }

  async describe(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointDescription> {
    return this.client(endpoint).describe(endpoint, abortSignal);
  }

  async listKeys(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointKeys> {
    return this.client(endpoint).listKeys(endpoint, abortSignal);
  }

  async regenerateKey(
    endpoint: ManagedEndpoint,
    slot: KeySlot,
    keyValue?: string,
    abortSignal?: AbortSignal,
  ): Promise<void> {
    return this.client(endpoint).regenerateKey(endpoint, slot, keyValue, abortSignal);
  }

  private client(endpoint: ManagedEndpoint): EndpointKeyClient {
    const client = this.byKind[endpoint.kind];
    if (!client) throw new UnsupportedEndpointKindError(endpoint.kind);
    return client;
  }
}
