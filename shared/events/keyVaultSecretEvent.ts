import { MalformedEventError } from './errors';
import type { IncomingEvent } from './IncomingEvent';
import { readEpochSeconds, readString } from './lenientData';

/** The fields of a Key Vault secret event (`data` plus `subject`), read leniently. */
export interface KeyVaultSecretEvent {
  readonly secretName: string;
  /** Version the event is about; undefined when the sender left it out. */
  readonly version?: string;
  readonly vaultName?: string;
  readonly notBefore?: Date;
  readonly expiresOn?: Date;
}

/**
 * Reads a `Microsoft.KeyVault.Secret*` event. The secret name comes from `ObjectName` (any casing),
 * else from the subject; NBF/EXP may be numbers, numeric strings or null.
 * @throws MalformedEventError when no secret name can be found or NBF/EXP are not numbers
 */
export function readKeyVaultSecretEvent(event: IncomingEvent): KeyVaultSecretEvent {
  const secretName = readString(event.data, 'ObjectName') ?? (event.subject.trim() || undefined);
  const notBefore = readEpochSeconds(event.data, 'NBF');
  const expiresOn = readEpochSeconds(event.data, 'EXP');
  const issues = [];
  if (!secretName) issues.push({ field: 'data.ObjectName', message: 'is required (or a subject)' });
  if (notBefore === 'invalid')
    issues.push({ field: 'data.NBF', message: 'must be seconds since 1970 or null' });
  if (expiresOn === 'invalid')
    issues.push({ field: 'data.EXP', message: 'must be seconds since 1970 or null' });
  if (issues.length > 0) throw new MalformedEventError(issues);
  const version = readString(event.data, 'Version');
  const vaultName = readString(event.data, 'VaultName');
  return {
    secretName: secretName ?? '',
    ...(version ? { version } : {}),
    ...(vaultName ? { vaultName } : {}),
    ...(notBefore instanceof Date ? { notBefore } : {}),
    ...(expiresOn instanceof Date ? { expiresOn } : {}),
  };
}

/**
 * The vault's name from its address (`https://<name>.vault.azure.net`, or a sovereign cloud's
 * `<name>.vault.<suffix>`), which Key Vault events carry as `VaultName`; undefined for an address that
 * names no vault that way (a local stand-in on a loopback address).
 * @example vaultNameOf('https://myvault.vault.azure.net/') // 'myvault'
 */
export function vaultNameOf(vaultUrl: string): string | undefined {
  return /^([a-z0-9-]+)\.vault\./i.exec(new URL(vaultUrl).hostname)?.[1];
}
