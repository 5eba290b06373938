import type { KeyVaultSecret, SecretClient, SecretProperties } from '@azure/keyvault-secrets';

import type { Sleep } from '../../clock';
import { DependencyFailedError } from '../../errors';
import { isDeletedSecretConflict, isDisabledSecretRefusal } from '../../networkErrors';
import { withRetries } from '../../retry';
import { SecretDeletedError } from '../errors';
import {
  SECRET_TAGS,
  type SecretStore,
  type SecretVersion,
  type SecretVersionInfo,
  type SetSecretOptions,
} from '../SecretStore';

/** Options of {@link KeyVaultSecretStore}. */
export interface KeyVaultSecretStoreOptions {
  client: SecretClient;
  sleep: Sleep;
  /** Our retry attempts on top of the SDK's. @default 3 */
  attempts?: number;
}

/**
 * `SecretStore` over `@azure/keyvault-secrets`. 404 means "absent". Reading a disabled version is
 * refused by Key Vault (403 "...disabled secret"); that is answered from the version list instead, with
 * an empty value and `enabled: false`. Writing a deleted secret's name is `SecretDeletedError`. 429/5xx are retried honouring `Retry-After` (see `withRetries`).
 * A caller's abort signal goes to the SDK call (its request and its retries) and to our retries.
 */
export class KeyVaultSecretStore implements SecretStore {
  constructor(private readonly options: KeyVaultSecretStoreOptions) {}

  async getCurrent(name: string, abortSignal?: AbortSignal): Promise<SecretVersion | undefined> {
    try {
      return toVersion(
        await this.retry(() => this.options.client.getSecret(name, { abortSignal }), abortSignal),
      );
    } catch (error) {
      const status = error instanceof DependencyFailedError ? error.dependencyStatus : undefined;
      if (status === 404) return undefined;
      if (status === 403 && isDisabledSecretRefusal((error as Error).cause)) {
        // The latest version was refused for being disabled, so it is the newest disabled one: the newest
        // of all may be an enabled one (a `rotatedAt` tag from a clock ahead of Key Vault's, a version
        // written in the same second), and its empty value would read as a key matching nothing.
        const found = (await this.listVersions(name, abortSignal)).find((v) => !v.enabled);
        return found && { ...found, value: '' };
      }
      throw error;
    }
  }

  async listVersions(name: string, abortSignal?: AbortSignal): Promise<SecretVersionInfo[]> {
    const versions = await this.retry(async () => {
      const out: SecretVersionInfo[] = [];
      // The signal reaches every page's request.
      for await (const properties of this.options.client.listPropertiesOfSecretVersions(name, {
        abortSignal,
      }))
        out.push(toInfo(properties));
      return out;
    }, abortSignal);
    // Key Vault lists by version id, and `createdOn` has one-second resolution: order by our
    // millisecond `rotatedAt` tag where present, so two versions written in one second stay in order.
    return versions.sort((a, b) => orderKey(b) - orderKey(a));
  }

  async setVersion(
    name: string,
    value: string,
    options: SetSecretOptions,
    abortSignal?: AbortSignal,
  ): Promise<SecretVersionInfo> {
    try {
      const secret = await this.retry(
        () =>
          this.options.client.setSecret(name, value, {
            tags: { ...options.tags },
            ...(options.expiresOn ? { expiresOn: options.expiresOn } : {}),
            enabled: true,
            abortSignal,
          }),
        abortSignal,
      );
      return toInfo(secret.properties);
    } catch (error) {
      if (error instanceof DependencyFailedError && isDeletedSecretConflict(error.cause))
        throw new SecretDeletedError(name, { cause: error });
      throw error;
    }
  }

  async disableVersion(name: string, version: string, abortSignal?: AbortSignal): Promise<void> {
    await this.retry(
      () => this.options.client.updateSecretProperties(name, version, { enabled: false, abortSignal }),
      abortSignal,
    );
  }

  /**
   * Our retries on top of the SDK's; a signal ends the pause between two tries, and no try follows it (the
   * SDK's own retries and request heed the signal in its options).
   */
  private retry<T>(operation: () => Promise<T>, abortSignal: AbortSignal | undefined): Promise<T> {
    return withRetries(operation, {
      dependency: 'keyVault',
      sleep: this.options.sleep,
      attempts: this.options.attempts ?? 3,
      abortSignal,
    });
  }
}

function orderKey(version: SecretVersionInfo): number {
  const tagged = Date.parse(version.tags[SECRET_TAGS.rotatedAt] ?? '');
  return Number.isNaN(tagged) ? (version.createdOn?.getTime() ?? 0) : tagged;
}

function toVersion(secret: KeyVaultSecret): SecretVersion {
  return {
    ...toInfo(secret.properties),
    value: secret.properties.enabled === false ? '' : (secret.value ?? ''),
  };
}

function toInfo(p: SecretProperties): SecretVersionInfo {
  return {
    name: p.name,
    version: p.version ?? '',
    tags: { ...(p.tags ?? {}) },
    enabled: p.enabled !== false,
    ...(p.createdOn ? { createdOn: p.createdOn } : {}),
    ...(p.expiresOn ? { expiresOn: p.expiresOn } : {}),
  };
}
