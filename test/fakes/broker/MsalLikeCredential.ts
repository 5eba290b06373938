import type { AccessTokenCredential } from '../../../shared/broker/ManagedIdentityTokenSource';
import type { Clock } from '../../../shared/clock';

/**
 * A managed-identity credential whose cache behaves like MSAL's under `@azure/identity`: one token per
 * scope, handed out again until, in MSAL's whole seconds (`nowSeconds()` rounds), fewer than 300 s
 * (`DEFAULT_TOKEN_RENEWAL_OFFSET_SEC`) are left; only then a new one is issued. Tokens of 2 h or less
 * carry no refresh hint (`refresh_in`), as MSAL's do not. Values are `mi-token-<n>`.
 */
export class MsalLikeCredential implements AccessTokenCredential {
  /** Tokens issued (the identity endpoint's calls). */
  issued = 0;
  /** `getToken` calls. */
  calls = 0;
  private readonly cached = new Map<string, { token: string; expiresOnSeconds: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly lifetimeSeconds = 3600,
  ) {}

  async getToken(scopes: string | string[]): Promise<{ token: string; expiresOnTimestamp: number }> {
    this.calls++;
    const scope = Array.isArray(scopes) ? scopes.join(' ') : scopes;
    let entry = this.cached.get(scope);
    if (!entry || Math.round(this.clock.now() / 1000) + 300 > entry.expiresOnSeconds) {
      this.issued++;
      entry = {
        token: `mi-token-${this.issued}`,
        expiresOnSeconds: Math.floor(this.clock.now() / 1000) + this.lifetimeSeconds,
      };
      this.cached.set(scope, entry);
    }
    return { token: entry.token, expiresOnTimestamp: entry.expiresOnSeconds * 1000 };
  }
}
