import type { KeySlot, ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import { DependencyFailedError } from '../errors';

/** What ARM says about an endpoint right now. */
export interface EndpointDescription {
  /** `properties.authMode` as returned (`Key`, `AMLToken`, `AADToken`, serverless `None`...). */
  readonly authMode: string;
  /** The data-plane URI the test step calls. */
  readonly scoringUri: string;
  /** `properties.provisioningState` (`Succeeded`, `Deleting`...), where the client reads it. */
  readonly provisioningState?: string;
}

/** Both keys of an endpoint. Never logged, journaled or returned by an API. */
export interface EndpointKeys {
  readonly primaryKey: string;
  readonly secondaryKey: string;
}

/**
 * The control-plane operations on an endpoint's keys (port). One implementation per endpoint kind
 * (v2 online, v2 serverless, v1 web services) behind `EndpointKeyClientRouter`.
 */
export interface EndpointKeyClient {
  /**
   * Capability: false when the service cannot be given a key value (v1 web services), so the set step
   * regenerates without one and reads the new value back. Absent means true.
   */
  setsKeyValue?(endpoint: ManagedEndpoint): boolean;
  /**
   * Auth mode and scoring URI.
   * @param abortSignal - fires when the caller gave up (a rotation run out of time): the read and its retries stop
   */
  describe(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointDescription>;
  /**
   * Both current keys.
   * @param abortSignal - fires when the caller gave up (a rotation run out of time): the call stops waiting
   */
  listKeys(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointKeys>;
  /**
   * Regenerates one slot and waits for the long-running operation to finish.
   * @param keyValue - the value to set; omitted lets the service choose. Throws `KeyValueRejectedError`
   *   when the service refuses the value (400), so the caller can retry without one.
   * @param abortSignal - fires when the caller gave up (a rotation run out of time): the operation is no
   *   longer waited for or polled, and the call rejects
   */
  regenerateKey(
    endpoint: ManagedEndpoint,
    slot: KeySlot,
    keyValue?: string,
    abortSignal?: AbortSignal,
  ): Promise<void>;
}

/** Reads the key of one slot. */
export function keyOf(keys: EndpointKeys, slot: KeySlot): string {
  return slot === 'Primary' ? keys.primaryKey : keys.secondaryKey;
}

/**
 * The keys of a list-keys answer, refusing one without both (as the v1 SDK's `get_keys` does): an empty key
 * read here would be onboarded into Key Vault, or read back as the new key, for clients to use.
 * @param dependency - the service that answered, for the error (`arm`, `modelManagement`)
 */
export function bothKeys(
  dependency: string,
  endpointId: string,
  answer: { primaryKey?: unknown; secondaryKey?: unknown },
): EndpointKeys {
  const primaryKey = typeof answer.primaryKey === 'string' ? answer.primaryKey : '';
  const secondaryKey = typeof answer.secondaryKey === 'string' ? answer.secondaryKey : '';
  if (!primaryKey || !secondaryKey)
    throw new DependencyFailedError(
      dependency,
      `The key list of ${endpointId} came without ${primaryKey ? 'secondaryKey' : 'primaryKey'}.`,
    );
  return { primaryKey, secondaryKey };
}
