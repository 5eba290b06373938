import type { PipelineRequest } from '@azure/core-rest-pipeline';

import { abortableSleep, type Sleep } from '../../clock';
import type { KeySlot, ManagedEndpoint } from '../../endpoints/ManagedEndpoint';
import { DependencyFailedError } from '../../errors';
import { fieldsOf } from '../../queueMessage';
import { retryAfterMs, withRetries } from '../../retry';
import { sendPipelineRequest } from '../../sendPipelineRequest';
import {
  bothKeys,
  type EndpointDescription,
  type EndpointKeyClient,
  type EndpointKeys,
} from '../EndpointKeyClient';
import { rejectedValue } from './ArmEndpointKeyClient';

/** The part of a core-client `ServiceClient` (the ML client) used here: its authenticated pipeline. */
export interface ArmRequestSender {
  sendRequest(request: PipelineRequest): Promise<ArmResponse>;
}

/** A response as the pipeline returns it. */
export interface ArmResponse {
  status: number;
  bodyAsText?: string | null;
  headers: { get(name: string): string | undefined };
}

/** Options of {@link ArmServerlessKeyClient}. */
export interface ArmServerlessKeyClientOptions {
  /** The subscription's ML client (`clients.machineLearning(sub)`), whose pipeline adds the ARM token and retries. */
  client: (subscriptionId: string) => ArmRequestSender;
  armEndpoint: string;
  apiVersion: string;
  sleep: Sleep;
  /** @default 1000 */
  pollIntervalMs?: number;
  /** Longest the LRO is polled. @default 600000 */
  pollTimeoutMs?: number;
}

/**
 * `EndpointKeyClient` for v2 serverless endpoints (`workspaces/serverlessEndpoints`). SDK 2.1.1 has no
 * serverless operations, so the REST calls go through the ML client's own pipeline (same credential,
 * token cache and retry policies). `regenerateKeys` answers 200 with keys, or 202 + `Location` /
 * `Azure-AsyncOperation`, polled here until terminal, honouring `Retry-After`.
 */
export class ArmServerlessKeyClient implements EndpointKeyClient {
  constructor(private readonly options: ArmServerlessKeyClientOptions) {}

  /** Only the ARM coordinates are read: the events module asks whether an endpoint still exists with them. */
  async describe(
    endpoint: Pick<ManagedEndpoint, 'arm'>,
    abortSignal?: AbortSignal,
  ): Promise<EndpointDescription> {
    const { properties } = json(
      await this.send(endpoint, 'GET', this.url(endpoint, ''), undefined, abortSignal),
    );
    const { authMode, inferenceEndpoint, provisioningState } = fieldsOf(properties);
    const { uri } = fieldsOf(inferenceEndpoint);
    return {
      authMode: typeof authMode === 'string' ? authMode : 'Unknown',
      scoringUri: typeof uri === 'string' ? uri : '',
      ...(typeof provisioningState === 'string' ? { provisioningState } : {}),
    };
  }

  async listKeys(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointKeys> {
    return bothKeys(
      'arm',
      endpoint.id,
      json(await this.send(endpoint, 'POST', this.url(endpoint, '/listKeys'), undefined, abortSignal)),
    );
  }

  /** @param abortSignal - once it fires, the operation is polled no more and the call rejects */
  async regenerateKey(
    endpoint: ManagedEndpoint,
    slot: KeySlot,
    keyValue?: string,
    abortSignal?: AbortSignal,
  ): Promise<void> {
    const body = JSON.stringify(keyValue === undefined ? { keyType: slot } : { keyType: slot, keyValue });
    let response: ArmResponse;
    try {
      response = await this.send(endpoint, 'POST', this.url(endpoint, '/regenerateKeys'), body, abortSignal);
    } catch (error) {
      throw rejectedValue(error, keyValue);
    }
    if (response.status === 202) await this.poll(endpoint, response, abortSignal);
  }

  private async poll(
    endpoint: ManagedEndpoint,
    accepted: ArmResponse,
    abortSignal: AbortSignal | undefined,
  ): Promise<void> {
    const { sleep, pollIntervalMs = 1000, pollTimeoutMs = 600_000 } = this.options;
    const asyncOperation = accepted.headers.get('azure-asyncoperation');
    const location = accepted.headers.get('location');
    const url = asyncOperation ?? location;
    if (!url) return;
    let waited = 0;
    let last: ArmResponse = accepted;
    while (waited < pollTimeoutMs) {
      // Retry-After: 0 (or none) waits the interval, as the SDK's poller does: no busy loop, and the timeout counts.
      const wait = retryAfterMs({ response: last }) || pollIntervalMs;
      await abortableSleep(sleep, wait, abortSignal);
      waited += wait;
      last = await this.send(endpoint, 'GET', url, undefined, abortSignal);
      if (asyncOperation) {
        // Compared as the SDK's poller does: without case, `Cancelled` as well as `Canceled`.
        const { status } = json(last);
        const state = typeof status === 'string' ? status.toLowerCase() : '';
        if (state === 'succeeded') return;
        if (state === 'failed' || state === 'canceled' || state === 'cancelled')
          throw new DependencyFailedError(
            'arm',
            `regenerateKeys ended ${String(status)} for endpoint ${endpoint.id}.`,
          );
      } else if (last.status !== 202) return;
    }
    throw new DependencyFailedError(
      'arm',
      `regenerateKeys of endpoint ${endpoint.id} did not finish in time.`,
    );
  }

  private url(endpoint: Pick<ManagedEndpoint, 'arm'>, action: string): string {
    const { subscriptionId, resourceGroup, workspace, name } = endpoint.arm;
    const path =
      `/subscriptions/${encodeURIComponent(subscriptionId)}/resourceGroups/${encodeURIComponent(resourceGroup)}` +
      `/providers/Microsoft.MachineLearningServices/workspaces/${encodeURIComponent(workspace)}` +
      `/serverlessEndpoints/${encodeURIComponent(name)}${action}`;
    return `${this.options.armEndpoint.replace(/\/+$/, '')}${path}?api-version=${encodeURIComponent(this.options.apiVersion)}`;
  }

  /** One call through the pipeline; non-2xx becomes a `RestError` so `withRetries` can classify it. */
  private send(
    endpoint: Pick<ManagedEndpoint, 'arm'>,
    method: 'GET' | 'POST',
    url: string,
    body?: string,
    abortSignal?: AbortSignal,
  ): Promise<ArmResponse> {
    const client = this.options.client(endpoint.arm.subscriptionId);
    return withRetries(() => sendPipelineRequest(client, 'ARM', method, url, body, abortSignal), {
      dependency: 'arm',
      sleep: this.options.sleep,
      abortSignal,
    });
  }
}

/** The body's fields; none when it is not a JSON object. */
function json(response: ArmResponse): Record<string, unknown> {
  try {
    return fieldsOf(JSON.parse(response.bodyAsText ?? '{}'));
  } catch {
    return {};
  }
}
