import type { EndpointRegistry } from '../../../shared/endpoints/EndpointRegistry';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { EndpointReadOnlyError } from '../../../shared/rotation/errors';

/** The endpoint registry in memory; ids in `readOnly` behave like ENDPOINTS_FILE entries. */
export class InMemoryEndpointRegistry implements EndpointRegistry {
  readonly endpoints = new Map<string, ManagedEndpoint>();
  readonly readOnly = new Set<string>();

  async get(id: string): Promise<ManagedEndpoint | undefined> {
    return this.endpoints.get(id);
  }

  async list(): Promise<readonly ManagedEndpoint[]> {
    return [...this.endpoints.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  async findBySecretName(secretName: string): Promise<ManagedEndpoint | undefined> {
    return [...this.endpoints.values()].find((e) => e.secretName === secretName);
  }

  async put(endpoint: ManagedEndpoint): Promise<void> {
    if (this.readOnly.has(endpoint.id)) throw new EndpointReadOnlyError(endpoint.id);
    this.endpoints.set(endpoint.id, endpoint);
  }

  async delete(id: string): Promise<void> {
    if (this.readOnly.has(id)) throw new EndpointReadOnlyError(id);
    this.endpoints.delete(id);
  }
}
