import type { Clock } from '../clock';
import { HOUR_MS, type ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import { isDisabledSecretRefusal } from '../networkErrors';
import { classifyUpstreamError } from './classifyUpstreamError';
import { UpstreamTokenError } from './errors';
import type { UpstreamToken, UpstreamTokenSource } from './UpstreamToken';

/** The fields of a Key Vault secret this source reads (structural view of `SecretClient.getSecret`). */
export interface SecretReader {
  getSecret(
    name: string,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{
    value?: string;
    properties: { enabled?: boolean; expiresOn?: Date; tags?: Record<string, string> };
  }>;
}

/** Options of {@link KeyVaultKeySource}. */
export interface KeyVaultKeySourceOptions {
  secrets: SecretReader;
  clock: Clock;
  /** Floor of the refresh hint when the endpoint's rotation is overdue. @default 60000 */
  overdueRefreshMs?: number;
}

/**
 * The current key of a `Key` endpoint, read from the endpoint's Key Vault secret (the value rotation
 * keeps current). Only used when both the endpoint and the client opted in (checked by the broker).
 *
 * A key is a static secret, not a token: the "expiry" handed out is how long the key is guaranteed to
 * keep working. Rotation never regenerates the slot held by the current version, and never the slot
 * that stopped being current less than the grace period ago. A rotation may come at any moment, not
 * only at the scheduled time (`POST …/rotate`, a near-expiry event), and a second one may regenerate
 * this key's slot once the grace period after the first has passed; so the one guarantee is `now +
 * grace`. The refresh hint is the next rotation time (the `rotatedAt` tag plus the rotation period, else
 * the secret's expiry minus the grace period); when that lies beyond the guarantee, the cache refreshes
 * at its usual fraction of the lifetime, so a key replaced early is picked up well within its grace.
 */
export class KeyVaultKeySource implements UpstreamTokenSource<ManagedEndpoint> {
  readonly upstream = 'keyVault' as const;
  private readonly overdueRefreshMs: number;

  constructor(private readonly options: KeyVaultKeySourceOptions) {
    this.overdueRefreshMs = options.overdueRefreshMs ?? 60_000;
  }

  /** Reads the endpoint's current key. */
  async getToken(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<UpstreamToken> {
    let secret: Awaited<ReturnType<SecretReader['getSecret']>>;
    try {
      secret = await this.options.secrets.getSecret(endpoint.secretName, { abortSignal });
    } catch (error) {
      // A disabled current version is refused with 403 too; it is the secret, not a role, that is missing.
      if (isDisabledSecretRefusal(error)) {
        throw new UpstreamTokenError(this.upstream, 'notFound', { cause: error, status: 403 });
      }
      throw classifyUpstreamError(this.upstream, error);
    }
    if (secret.properties.enabled === false) throw new UpstreamTokenError(this.upstream, 'notFound');
    if (!secret.value) throw new UpstreamTokenError(this.upstream, 'badResponse');
    const now = this.options.clock.now();
    const graceMs = endpoint.gracePeriodHours * HOUR_MS;
    const nextRotationMs = this.nextRotation(endpoint, secret.properties, graceMs, now);
    return {
      value: secret.value,
      expiresOnMs: now + graceMs,
      refreshAfterMs: Math.max(nextRotationMs, now + this.overdueRefreshMs),
    };
  }

  private nextRotation(
    endpoint: ManagedEndpoint,
    properties: { expiresOn?: Date; tags?: Record<string, string> },
    graceMs: number,
    now: number,
  ): number {
    const rotatedAt = Date.parse(properties.tags?.['rotatedAt'] ?? '');
    if (!Number.isNaN(rotatedAt)) return rotatedAt + endpoint.rotationPeriodHours * HOUR_MS;
    const expiresOn = properties.expiresOn?.getTime();
    if (expiresOn !== undefined && !Number.isNaN(expiresOn)) return expiresOn - graceMs;
    return now + endpoint.rotationPeriodHours * HOUR_MS;
  }
}
