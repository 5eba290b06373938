import type { ManagedEndpoint } from './ManagedEndpoint';

/**
 * The endpoints the app looks after (port; `TableEndpointRegistry` stores them in Table storage and
 * merges read-only entries declared in `ENDPOINTS_FILE`). Used by rotation and by the broker.
 */
export interface EndpointRegistry {
  /** One endpoint by id; undefined when unknown. */
  get(id: string): Promise<ManagedEndpoint | undefined>;
  /** Every endpoint, file-declared ones included, sorted by id. */
  list(): Promise<readonly ManagedEndpoint[]>;
  /** The endpoint whose main secret is `secretName`. */
  findBySecretName(secretName: string): Promise<ManagedEndpoint | undefined>;
  /** Creates or replaces a table entry; throws `EndpointReadOnlyError` for file-declared ids. */
  put(endpoint: ManagedEndpoint): Promise<void>;
  /** Deletes a table entry (no-op when absent); throws `EndpointReadOnlyError` for file-declared ids. */
  delete(id: string): Promise<void>;
}
