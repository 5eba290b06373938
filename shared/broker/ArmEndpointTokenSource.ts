import type { ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import { classifyUpstreamError } from './classifyUpstreamError';
import { UpstreamTokenError } from './errors';
import { DEFAULT_FETCH_TIME_LIMIT_MS } from './TokenCache';
import { epochSecondsToMs, type UpstreamToken, type UpstreamTokenSource } from './UpstreamToken';

/** The `EndpointAuthToken` fields of ARM's `…/onlineEndpoints/{name}/token` answer (epoch seconds). */
export interface EndpointAuthTokenShape {
  accessToken?: string;
  tokenType?: string;
  expiryTimeUtc?: number;
  refreshAfterTimeUtc?: number;
}

/** The one `onlineEndpoints` operation this source needs (structural view of the SDK client). */
export interface OnlineEndpointTokenOperations {
  getToken(
    resourceGroup: string,
    workspace: string,
    endpointName: string,
    options?: { abortSignal?: AbortSignal; requestOptions?: { timeout?: number } },
  ): Promise<EndpointAuthTokenShape>;
}

/** Options of {@link ArmEndpointTokenSource}. */
export interface ArmEndpointTokenSourceOptions {
  /** The SDK's `onlineEndpoints` operations for a subscription (a client is bound to one). */
  onlineEndpoints(subscriptionId: string): OnlineEndpointTokenOperations;
  /**
   * The token cache's `fetchTimeLimitMs`, given to each call as its request's time limit: the `token`
   * POST is an ARM write, and the app's write gate fails a call it would hold longer than that as
   * throttled, with ARM's wait, instead of holding it until the cache gives it up as a `timeout`.
   * @default DEFAULT_FETCH_TIME_LIMIT_MS
   */
  fetchTimeLimitMs?: number;
}

/**
 * Tokens of `AMLToken` online endpoints: ARM `POST …/onlineEndpoints/{name}/token` with the app's
 * managed identity. `expiryTimeUtc` and `refreshAfterTimeUtc` are Unix epoch seconds
 * (`EndpointAuthToken`; above 1e12, milliseconds, see `epochSecondsToMs`); the refresh hint is passed on so the cache
 * refreshes when ARM says.
 * @example new ArmEndpointTokenSource({ onlineEndpoints: (sub) => clients.machineLearning(sub).onlineEndpoints })
 */
export class ArmEndpointTokenSource implements UpstreamTokenSource<ManagedEndpoint> {
  readonly upstream = 'amlToken' as const;

  constructor(private readonly options: ArmEndpointTokenSourceOptions) {}

  /** Fetches a fresh AML token for the endpoint. */
  async getToken(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<UpstreamToken> {
    const { subscriptionId, resourceGroup, workspace, name } = endpoint.arm;
    let answer: EndpointAuthTokenShape;
    try {
      answer = await this.options.onlineEndpoints(subscriptionId).getToken(resourceGroup, workspace, name, {
        abortSignal,
        requestOptions: { timeout: this.options.fetchTimeLimitMs ?? DEFAULT_FETCH_TIME_LIMIT_MS },
      });
    } catch (error) {
      throw classifyUpstreamError(this.upstream, error);
    }
    const { accessToken, expiryTimeUtc, refreshAfterTimeUtc } = answer;
    if (!accessToken || typeof expiryTimeUtc !== 'number' || !Number.isFinite(expiryTimeUtc)) {
      throw new UpstreamTokenError(this.upstream, 'badResponse');
    }
    return {
      value: accessToken,
      expiresOnMs: epochSecondsToMs(expiryTimeUtc),
      ...(typeof refreshAfterTimeUtc === 'number' && Number.isFinite(refreshAfterTimeUtc)
        ? { refreshAfterMs: epochSecondsToMs(refreshAfterTimeUtc) }
        : {}),
    };
  }
}
