import type { ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import type { V1ServiceToken } from '../v1/ModelManagementClient';
import { classifyUpstreamError } from './classifyUpstreamError';
import { UpstreamTokenError } from './errors';
import { epochSecondsToMs, type UpstreamToken, type UpstreamTokenSource } from './UpstreamToken';

/** The one model-management call this source needs (`ModelManagementClient` satisfies it). */
export interface V1TokenOperations {
  token(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<V1ServiceToken>;
}

/**
 * Tokens of Azure ML SDK v1 AKS web services with token auth: `POST {mms}/services/{name}/token`
 * with the app's identity (ARM audience), answering `AuthToken { accessToken, tokenType, expiryOn,
 * refreshAfter }` (epoch seconds, above 1e12 milliseconds; 201 per the spec, 200 accepted).
 * `refreshAfter` is passed on so the cache refreshes when the service says (the v1 docs: refresh after
 * `refresh_by`). The call goes to the workspace region's host, so it fails while that region is down;
 * the cache keeps serving meanwhile.
 * @example new V1ServiceTokenSource(new ModelManagementClient({ sender, hostTemplate, sleep }))
 */
export class V1ServiceTokenSource implements UpstreamTokenSource<ManagedEndpoint> {
  readonly upstream = 'v1ServiceToken' as const;

  constructor(private readonly mms: V1TokenOperations) {}

  /** Fetches a fresh service token. */
  async getToken(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<UpstreamToken> {
    let answer: V1ServiceToken;
    try {
      answer = await this.mms.token(endpoint, abortSignal);
    } catch (error) {
      throw classifyUpstreamError(this.upstream, error);
    }
    const { accessToken, expiryOn, refreshAfter } = answer;
    if (!accessToken || typeof expiryOn !== 'number' || !Number.isFinite(expiryOn))
      throw new UpstreamTokenError(this.upstream, 'badResponse');
    return {
      value: accessToken,
      expiresOnMs: epochSecondsToMs(expiryOn),
      ...(typeof refreshAfter === 'number' && Number.isFinite(refreshAfter)
        ? { refreshAfterMs: epochSecondsToMs(refreshAfter) }
        : {}),
    };
  }
}
