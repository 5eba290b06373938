import { abortableSleep, type Clock, type Sleep } from '../clock';
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
  /** The clock the credential's cache reads: the system clock in the app, whatever clock the broker is given. */
  clock: Clock;
  /** Waits out MSAL's renewal point (see {@link MSAL_RENEWAL_OFFSET_MS}). */
  sleep: Sleep;
}

/**
 * MSAL, under `@azure/identity`, hands out its cached managed-identity token until fewer than this are left
 * (`DEFAULT_TOKEN_RENEWAL_OFFSET_SEC`), and renews a token of 2 h or less no earlier (no `refresh_in`).
 * `BROKER_MIN_TOKEN_LIFETIME_SECONDS` is at most this, so the broker refuses MSAL's token only right at it.
 */
export const MSAL_RENEWAL_OFFSET_MS = 300_000;

/**
 * How close to MSAL's renewal point an answer counts as MSAL's cached token about to be renewed, and how far
 * past that point the second request is made: MSAL compares whole seconds, rounded (`nowSeconds()`), so it
 * renews up to 0.5 s after the point.
 */
const RENEWAL_MARGIN_MS = 1000;

/**
 * Microsoft Entra tokens for a resource, requested with the app's managed identity for the resource's
 * `/.default` scope: `AADToken` endpoints (`https://ml.azure.com`) and raw resources a client may be
 * granted. The identity library's `refreshAfterTimestamp` is passed on as the refresh hint.
 */
export class ManagedIdentityTokenSource implements UpstreamTokenSource<string> {
  readonly upstream = 'managedIdentity' as const;

  constructor(private readonly options: ManagedIdentityTokenSourceOptions) {}

  /**
   * Fetches a token for `resource`. When the credential answers its cached token with about 300 s left, the
   * moment MSAL is about to renew it, this waits that moment out (at most 2 s) and asks once more: the
   * broker never hands out a token with under its minimum lifetime (at most 300 s) left, and would refuse
   * that one as `tooShortLived`, a definite failure that rests the scope for 30 s of 503s once per token life.
   * The broker's cache holds the requests for the scope on this one call meanwhile (single flight).
   * @param resource - resource URI without `/.default`, e.g. `https://ml.azure.com`
   */
  async getToken(resource: string, abortSignal?: AbortSignal): Promise<UpstreamToken> {
    const token = await this.ask(resource, abortSignal);
    const renewedInMs =
      token.expiresOnMs - MSAL_RENEWAL_OFFSET_MS + RENEWAL_MARGIN_MS - this.options.clock.now();
    // Outside the window the token is either good for longer, or already a new one that short-lived:
    // asking again would only get it back.
    if (renewedInMs <= 0 || renewedInMs > 2 * RENEWAL_MARGIN_MS) return token;
    // A call the cache gave up (its time limit) leaves no timer behind.
    await abortableSleep(this.options.sleep, renewedInMs, abortSignal);
    return this.ask(resource, abortSignal);
  }

  private async ask(resource: string, abortSignal: AbortSignal | undefined): Promise<UpstreamToken> {
    let answer: Awaited<ReturnType<AccessTokenCredential['getToken']>>;
    try {
      answer = await this.options.credential.getToken(`${resource}/.default`, { abortSignal });
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
