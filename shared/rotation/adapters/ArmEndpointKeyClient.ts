import { type Sleep, untilAborted } from '../../clock';
import type { KeySlot, ManagedEndpoint } from '../../endpoints/ManagedEndpoint';
import { DependencyFailedError } from '../../errors';
import { withRetries } from '../../retry';
import {
  bothKeys,
  type EndpointDescription,
  type EndpointKeyClient,
  type EndpointKeys,
} from '../EndpointKeyClient';
import { KeyValueRejectedError } from '../errors';

/** Structural view of `AzureMachineLearningWorkspaces(sub).onlineEndpoints` (2.1.1), so tests can pass a fake. */
export interface OnlineEndpointOperations {
  get(
    resourceGroup: string,
    workspace: string,
    name: string,
  ): Promise<{ properties: { authMode: string; scoringUri?: string } }>;
  listKeys(
    resourceGroup: string,
    workspace: string,
    name: string,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ primaryKey?: string; secondaryKey?: string }>;
  beginRegenerateKeysAndWait(
    resourceGroup: string,
    workspace: string,
    name: string,
    body: { keyType: string; keyValue?: string },
    options?: { updateIntervalInMs?: number; abortSignal?: AbortSignal },
  ): Promise<void>;
}

/** Options of {@link ArmEndpointKeyClient}. */
export interface ArmEndpointKeyClientOptions {
  /** The operations of the subscription's client (`clients.machineLearning(sub).onlineEndpoints`). */
  onlineEndpoints: (subscriptionId: string) => OnlineEndpointOperations;
  sleep: Sleep;
  /** LRO polling interval when the service sends no `Retry-After`. @default 1000 */
  pollIntervalMs?: number;
  /** Our retry attempts on top of the SDK pipeline's. @default 3 */
  attempts?: number;
}

/**
 * `EndpointKeyClient` for v2 managed/Kubernetes online endpoints over `@azure/arm-machinelearning`.
 * `regenerateKey` waits for the long-running operation (the SDK polls `Location`/`Azure-AsyncOperation`).
 * A 400 to a request that carried our `keyValue` becomes `KeyValueRejectedError` (the accepted format is
 * undocumented), so the rotator regenerates without a value instead.
 */
export class ArmEndpointKeyClient implements EndpointKeyClient {
  constructor(private readonly options: ArmEndpointKeyClientOptions) {}

  async describe(endpoint: ManagedEndpoint): Promise<EndpointDescription> {
    const { resourceGroup, workspace, name } = endpoint.arm;
    const found = await this.retry(() => this.ops(endpoint).get(resourceGroup, workspace, name));
    return { authMode: found.properties.authMode, scoringUri: found.properties.scoringUri ?? '' };
  }

  /** @param abortSignal - given to the SDK call: it leaves ARM's write gate, or its request, when it fires */
  async listKeys(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointKeys> {
    const { resourceGroup, workspace, name } = endpoint.arm;
    const keys = await this.retry(
      () => this.ops(endpoint).listKeys(resourceGroup, workspace, name, abortSignal ? { abortSignal } : {}),
      abortSignal,
    );
    return bothKeys('arm', endpoint.id, keys);
  }

  /**
   * @param abortSignal - given to the SDK: a write waiting at ARM's write gate leaves it, and the poller,
   *   which has no time limit of its own, stops at its next request. That may follow a pause as long as
   *   the operation's `Retry-After`, so the call does not wait for it: it rejects as soon as the signal fires.
   */
  async regenerateKey(
    endpoint: ManagedEndpoint,
    slot: KeySlot,
    keyValue?: string,
    abortSignal?: AbortSignal,
  ): Promise<void> {
    const { resourceGroup, workspace, name } = endpoint.arm;
    const body = keyValue === undefined ? { keyType: slot } : { keyType: slot, keyValue };
    const options = {
      updateIntervalInMs: this.options.pollIntervalMs ?? 1000,
      ...(abortSignal ? { abortSignal } : {}),
    };
    try {
      await this.retry(
        () =>
          untilAborted(
            this.ops(endpoint).beginRegenerateKeysAndWait(resourceGroup, workspace, name, body, options),
            abortSignal,
          ),
        abortSignal,
      );
    } catch (error) {
      throw rejectedValue(error, keyValue);
    }
  }

  private ops(endpoint: ManagedEndpoint): OnlineEndpointOperations {
    return this.options.onlineEndpoints(endpoint.arm.subscriptionId);
  }

  private retry<T>(operation: () => Promise<T>, abortSignal?: AbortSignal): Promise<T> {
    return withRetries(operation, {
      dependency: 'arm',
      sleep: this.options.sleep,
      attempts: this.options.attempts ?? 3,
      ...(abortSignal ? { abortSignal } : {}),
    });
  }
}

/** A 400 to a request carrying our value means "not that value"; anything else passes through. */
export function rejectedValue(error: unknown, keyValue: string | undefined): unknown {
  if (keyValue !== undefined && error instanceof DependencyFailedError && error.dependencyStatus === 400)
    return new KeyValueRejectedError({ cause: error });
  return error;
}
