import { abortableSleep, type Sleep, untilAborted } from '../../clock';
import type { KeySlot, ManagedEndpoint } from '../../endpoints/ManagedEndpoint';
import { DependencyFailedError } from '../../errors';
import { retryAfterMs, withRetries } from '../../retry';
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
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ properties: { authMode: string; scoringUri?: string; provisioningState?: string } }>;
  listKeys(
    resourceGroup: string,
    workspace: string,
    name: string,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ primaryKey?: string; secondaryKey?: string }>;
  beginRegenerateKeys(
    resourceGroup: string,
    workspace: string,
    name: string,
    body: { keyType: string; keyValue?: string },
    options?: { abortSignal?: AbortSignal; onResponse?: (response: ArmOperationResponse) => void },
  ): Promise<RegenerateKeysPoller>;
}

/** What is read of each response of a regenerate (the request and every poll of it): its `Retry-After`. */
export interface ArmOperationResponse {
  headers: { get(name: string): string | undefined };
}

/**
 * The SDK's poller of a regenerate (core-lro's legacy `PollerLike`), as returned once the request was
 * accepted and polled once. Only single polls are used: its own loop (`pollUntilDone`) pauses once more
 * after the operation has ended, for the last `Retry-After`, on a timer nothing can clear.
 */
export interface RegenerateKeysPoller {
  /** One poll of the operation; rejects when it failed or was cancelled. */
  poll(): Promise<void>;
  isDone(): boolean;
}

/** Options of {@link ArmEndpointKeyClient}. */
export interface ArmEndpointKeyClientOptions {
  /** The operations of the subscription's client (`clients.machineLearning(sub).onlineEndpoints`). */
  onlineEndpoints: (subscriptionId: string) => OnlineEndpointOperations;
  sleep: Sleep;
  /** Pause between polls of the long-running operation when ARM sends no `Retry-After`. @default 1000 */
  pollIntervalMs?: number;
  /** Our retry attempts on top of the SDK pipeline's. @default 3 */
  attempts?: number;
}

/**
 * `EndpointKeyClient` for v2 managed/Kubernetes online endpoints over `@azure/arm-machinelearning`.
 * `regenerateKey` waits for the long-running operation: the SDK polls `Location`/`Azure-AsyncOperation`,
 * one poll at a time, and this client pauses before each as `Retry-After` asks, so nothing of the
 * operation is left running once the call has returned.
 * A 400 to a request that carried our `keyValue` becomes `KeyValueRejectedError` (the accepted format is
 * undocumented), so the rotator regenerates without a value instead.
 */
export class ArmEndpointKeyClient implements EndpointKeyClient {
  constructor(private readonly options: ArmEndpointKeyClientOptions) {}

  /** @param abortSignal - given to the SDK call and its retries: the read stops when it fires */
  async describe(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointDescription> {
    const { resourceGroup, workspace, name } = endpoint.arm;
    const found = await this.retry(
      () => this.ops(endpoint).get(resourceGroup, workspace, name, { abortSignal }),
      abortSignal,
    );
    const { authMode, scoringUri, provisioningState } = found.properties;
    return { authMode, scoringUri: scoringUri ?? '', ...(provisioningState ? { provisioningState } : {}) };
  }

  /** @param abortSignal - given to the SDK call: it leaves ARM's write gate, or its request, when it fires */
  async listKeys(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointKeys> {
    const { resourceGroup, workspace, name } = endpoint.arm;
    const keys = await this.retry(
      () => this.ops(endpoint).listKeys(resourceGroup, workspace, name, { abortSignal }),
      abortSignal,
    );
    return bothKeys('arm', endpoint.id, keys);
  }

  /**
   * @param abortSignal - given to the SDK: a write waiting at ARM's write gate leaves it, and a poll's
   *   request is refused. The pause before the next poll may be as long as the operation's `Retry-After`,
   *   so the call does not wait for it: it rejects as soon as the signal fires, and polls no more.
   */
  async regenerateKey(
    endpoint: ManagedEndpoint,
    slot: KeySlot,
    keyValue?: string,
    abortSignal?: AbortSignal,
  ): Promise<void> {
    const { resourceGroup, workspace, name } = endpoint.arm;
    const body = keyValue === undefined ? { keyType: slot } : { keyType: slot, keyValue };
    try {
      await this.retry(async () => {
        let asked: number | undefined;
        const options = {
          onResponse: (response: ArmOperationResponse) => void (asked = retryAfterMs({ response })),
          abortSignal,
        };
        const poller = await untilAborted(
          this.ops(endpoint).beginRegenerateKeys(resourceGroup, workspace, name, body, options),
          abortSignal,
        );
        // Pause before each poll, never after the last, and end the pause when the signal fires: the call
        // leaves no timer behind it. Retry-After: 0 (or none) waits the interval, as the SDK's poller does.
        while (!poller.isDone()) {
          const pause = asked || (this.options.pollIntervalMs ?? 1000);
          await abortableSleep(this.options.sleep, pause, abortSignal);
          await untilAborted(poller.poll(), abortSignal);
        }
      }, abortSignal);
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
      abortSignal,
    });
  }
}

/** A 400 to a request carrying our value means "not that value"; anything else passes through. */
export function rejectedValue(error: unknown, keyValue: string | undefined): unknown {
  if (keyValue !== undefined && error instanceof DependencyFailedError && error.dependencyStatus === 400)
    return new KeyValueRejectedError({ cause: error });
  return error;
}
