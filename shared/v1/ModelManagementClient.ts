import type { PipelineRequest } from '@azure/core-rest-pipeline';

import { abortableSleep, type Sleep } from '../clock';
import type { KeySlot, ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import { DependencyFailedError, DependencyUnavailableError } from '../errors';
import { fieldsOf } from '../queueMessage';
import { type RetryOptions, withRetries } from '../retry';
import { bothKeys } from '../rotation/EndpointKeyClient';
import { sendPipelineRequest } from '../sendPipelineRequest';

/** The part of a core-rest-pipeline client used here: an authenticated `sendRequest` (ARM token). */
export interface MmsRequestSender {
  sendRequest(request: PipelineRequest): Promise<MmsResponse>;
}

/** A response as the pipeline returns it. */
export interface MmsResponse {
  status: number;
  bodyAsText?: string | null;
  headers: { get(name: string): string | undefined };
}

/** What the model-management API says about a v1 web service (`GET …/services/{name}`). */
export interface V1ServiceDescription {
  /** `computeType` as returned (`AKS`, `ACI`, ...). */
  readonly computeType: string;
  /** Key auth (`authEnabled`); when absent, the v1 default: on for AKS, off for ACI. */
  readonly authEnabled: boolean;
  /** Token auth (`aadAuthEnabled` on the wire, `token_auth_enabled` in the SDK); AKS only. */
  readonly tokenAuthEnabled: boolean;
  readonly scoringUri: string;
}

/** `AuthToken` of `POST …/services/{name}/token` (times in epoch seconds). */
export interface V1ServiceToken {
  readonly accessToken?: string;
  readonly tokenType?: string;
  readonly expiryOn?: number;
  readonly refreshAfter?: number;
}

/** Options of {@link ModelManagementClient}. */
export interface ModelManagementClientOptions {
  sender: MmsRequestSender;
  /** `V1_MMS_HOST_TEMPLATE`, e.g. `https://{region}.api.azureml.ms`. */
  hostTemplate: string;
  sleep: Sleep;
  /** Retries of transient failures (rotation); omitted = one attempt, the raw `RestError` is thrown (broker). */
  retries?: Omit<RetryOptions, 'dependency' | 'sleep' | 'abortSignal'>;
  /** Interval between operation polls (the v1 SDK polls every 5 s). @default 5000 */
  pollIntervalMs?: number;
  /** Longest an operation is polled. @default 600000 */
  pollTimeoutMs?: number;
}

const TERMINAL = new Set(['Succeeded', 'Failed', 'Cancelled', 'TimedOut']);

/**
 * The Azure ML SDK v1 model-management (MMS) calls (the routes azureml-core uses), over the app's ARM-audience
 * pipeline: `GET services/{name}`, `POST …/listkeys`, `POST …/regenerateKeys` (202 +
 * `Operation-Location`, whose operation is polled until `Succeeded`/`Failed`/`Cancelled`/`TimedOut`)
 * and `POST …/token`.
 * The host is the workspace region's (`hostTemplate` with `{region}`), which is why a regional outage
 * stops these calls while ARM still answers.
 * @example await mms.describe(endpoint) // { computeType: 'AKS', authEnabled: false, tokenAuthEnabled: true, scoringUri }
 */
export class ModelManagementClient {
  constructor(private readonly options: ModelManagementClientOptions) {}

  /**
   * The service's compute type, auth flags and scoring URI. An answer without `computeType` (required in
   * `ServiceResponseBase`) is no service description, e.g. another host's page under a wrong
   * `V1_MMS_HOST_TEMPLATE`: a `DependencyFailedError`, not a compute type that breaks a v1 rule.
   */
  async describe(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<V1ServiceDescription> {
    const body = json(await this.send('GET', this.url(endpoint, ''), undefined, abortSignal));
    const computeType = body.computeType;
    if (typeof computeType !== 'string' || computeType === '')
      throw new DependencyFailedError(
        'modelManagement',
        `The model-management answer for ${endpoint.id} names no computeType; check that V1_MMS_HOST_TEMPLATE gives the workspace region's host.`,
      );
    return {
      computeType,
      authEnabled: typeof body.authEnabled === 'boolean' ? body.authEnabled : computeType === 'AKS',
      tokenAuthEnabled: body.aadAuthEnabled === true,
      scoringUri: typeof body.scoringUri === 'string' ? body.scoringUri : '',
    };
  }

  /**
   * `Webservice.get_keys()`: both keys. An answer missing either one fails, as in the v1 SDK: an empty
   * key read here would be onboarded into Key Vault, or read back as a new key, for clients to use.
   */
  async listKeys(
    endpoint: ManagedEndpoint,
    abortSignal?: AbortSignal,
  ): Promise<{ primaryKey: string; secondaryKey: string }> {
    return bothKeys(
      'modelManagement',
      endpoint.id,
      json(await this.send('POST', this.url(endpoint, '/listkeys'), undefined, abortSignal)),
    );
  }

  /**
   * `Webservice.regen_key(slot)` without a value; waits for the operation to end `Succeeded`.
   * @param abortSignal - once it fires, the operation is polled no more and the call rejects
   */
  async regenerateKey(endpoint: ManagedEndpoint, slot: KeySlot, abortSignal?: AbortSignal): Promise<void> {
    const accepted = await this.send(
      'POST',
      this.url(endpoint, '/regenerateKeys'),
      JSON.stringify({ keyType: slot }),
      abortSignal,
    );
    const location = accepted.headers.get('operation-location');
    // The v1 SDK waits for the operation whenever a success names one, whatever its status: reading the
    // keys back before it ends would take the slot's old value for the new one.
    if (!location && accepted.status === 200) return;
    // The v1 SDK requires Operation-Location too: without it, completion cannot be known.
    if (!location)
      throw new DependencyFailedError(
        'modelManagement',
        `regenerateKeys of ${endpoint.id} gave no Operation-Location.`,
      );
    const poll = this.operationUrl(endpoint, location);
    const { pollIntervalMs = 5000, pollTimeoutMs = 600_000, sleep } = this.options;
    for (let waited = 0; waited < pollTimeoutMs; waited += pollIntervalMs) {
      await abortableSleep(sleep, pollIntervalMs, abortSignal);
      const state = text(json(await this.send('GET', poll, undefined, abortSignal)).state);
      // As the v1 SDK: an answer without a state is no operation status, and polling it would only wait.
      if (!state)
        throw new DependencyFailedError(
          'modelManagement',
          `The regenerateKeys operation of ${endpoint.id} answered without a state.`,
        );
      if (!TERMINAL.has(state)) continue;
      if (state === 'Succeeded') return;
      throw new DependencyFailedError('modelManagement', `regenerateKeys of ${endpoint.id} ended ${state}.`);
    }
    throw new DependencyUnavailableError(
      'modelManagement',
      `regenerateKeys of ${endpoint.id} did not finish in time.`,
    );
  }

  /**
   * `AksWebservice.get_access_token()`: the `AuthToken` answer (201 or 200), each field only when it has
   * its type, so the caller sees a malformed answer as fields missing.
   */
  async token(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<V1ServiceToken> {
    const answer = json(await this.send('POST', this.url(endpoint, '/token'), undefined, abortSignal));
    const { accessToken, tokenType, expiryOn, refreshAfter } = answer;
    return {
      ...(typeof accessToken === 'string' ? { accessToken } : {}),
      ...(typeof tokenType === 'string' ? { tokenType } : {}),
      ...(typeof expiryOn === 'number' ? { expiryOn } : {}),
      ...(typeof refreshAfter === 'number' ? { refreshAfter } : {}),
    };
  }

  /** `{host}/modelmanagement/v1.0/subscriptions/…/workspaces/{ws}/services/{name}{action}`. */
  url(endpoint: ManagedEndpoint, action: string): string {
    return `${this.workspaceUrl(endpoint)}/services/${encodeURIComponent(endpoint.arm.name)}${action}`;
  }

  /**
   * Where a regenerate's operation is polled: `{workspace base}/operations/{id}`, the id being the last
   * path segment of `Operation-Location`. That is how the v1 SDK polls (`regen_key`); it never requests
   * the header itself, whose form is undocumented (a path, or another host, would fail the request or
   * carry the app's ARM token elsewhere).
   */
  private operationUrl(endpoint: ManagedEndpoint, location: string): string {
    const id = new URL(location, 'https://operation.invalid').pathname.split('/').pop() ?? '';
    return `${this.workspaceUrl(endpoint)}/operations/${id}`;
  }

  /** `{host}/modelmanagement/v1.0/subscriptions/…/workspaces/{ws}`, the host being the region's. */
  private workspaceUrl(endpoint: ManagedEndpoint): string {
    const { subscriptionId, resourceGroup, workspace } = endpoint.arm;
    const region = endpoint.v1?.region ?? '';
    const host = this.options.hostTemplate.replace(/\{region\}/g, encodeURIComponent(region));
    return (
      `${host}/modelmanagement/v1.0/subscriptions/${encodeURIComponent(subscriptionId)}` +
      `/resourceGroups/${encodeURIComponent(resourceGroup)}/providers/Microsoft.MachineLearningServices` +
      `/workspaces/${encodeURIComponent(workspace)}`
    );
  }

  private send(
    method: 'GET' | 'POST',
    url: string,
    body?: string,
    abortSignal?: AbortSignal,
  ): Promise<MmsResponse> {
    const once = (): Promise<MmsResponse> =>
      sendPipelineRequest(this.options.sender, 'Model management', method, url, body, abortSignal);
    const { retries, sleep } = this.options;
    return retries
      ? withRetries(once, {
          ...retries,
          dependency: 'modelManagement',
          sleep,
          abortSignal,
        })
      : once();
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** The body's fields; none when it is not a JSON object. */
function json(response: MmsResponse): Record<string, unknown> {
  try {
    return fieldsOf(JSON.parse(response.bodyAsText ?? '{}'));
  } catch {
    return {};
  }
}
