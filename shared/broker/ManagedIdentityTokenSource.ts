import { classifyUpstreamError } from './classifyUpstreamError';
import { UpstreamTokenError } from './errors';
import type { UpstreamToken, UpstreamTokenSource } from './UpstreamToken';

/** Structural view of `TokenCredential.getToken` (keeps `@azure/identity` types in the composition root). */
export interface AccessTokenCredential {
  getToken(
    scopes: string | string[],
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ token: string; expiresOnTimestamp: number; refreshAfterTimestamp?: number } | null>;
}

/** Options of {@link ManagedIdentityTokenSource}. */
export interface ManagedIdentityTokenSourceOptions {
  /** The app's credential (managed identity in Azure). Shared, so MSAL's own cache is shared too. */
  credential: AccessTokenCredential;
}

/**
 * Microsoft Entra tokens for a resource, requested with the app's managed identity for the resource's
 * `/.default` scope: `AADToken` endpoints (`https://ml.azure.com`) and raw resources a client may be
 * granted. The identity library's `refreshAfterTimestamp` is passed on as the refresh hint.
 */
export class ManagedIdentityTokenSource implements UpstreamTokenSource<string> {
  readonly upstream = 'managedIdentity' as const;

  constructor(private readonly options: ManagedIdentityTokenSourceOptions) {}

  /**
   * Fetches a token for `resource`.
   * @param resource - resource URI without `/.default`, e.g. `https://ml.azure.com`
   */
  async getToken(resource: string, abortSignal?: AbortSignal): Promise<UpstreamToken> {
    let answer: Awaited<ReturnType<AccessTokenCredential['getToken']>>;
    try {
      answer = await this.options.credential.getToken(
        `${resource}/.default`,
        abortSignal ? { abortSignal } : {},
      );
    } catch (error) {
      throw classifyUpstreamError(this.upstream, error);
    }
    if (!answer?.token || !Number.isFinite(answer.expiresOnTimestamp)) {
      throw new UpstreamTokenError(this.upstream, 'badResponse');
    }
    return {
      value: answer.token,
      expiresOnMs: answer.expiresOnTimestamp,
      ...(answer.refreshAfterTimestamp !== undefined ? { refreshAfterMs: answer.refreshAfterTimestamp } : {}),
    };
  }
}
