/** One version of a Key Vault secret. `value` is empty when the version is disabled (Key Vault refuses to read it). */
export interface SecretVersion {
  readonly name: string;
  readonly version: string;
  readonly value: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly enabled: boolean;
  readonly createdOn?: Date;
  readonly expiresOn?: Date;
}

/** A secret version's properties, without its value. */
export type SecretVersionInfo = Omit<SecretVersion, 'value'>;

/** What to write with a new version. */
export interface SetSecretOptions {
  readonly tags: Readonly<Record<string, string>>;
  readonly expiresOn?: Date;
}

/**
 * The Key Vault operations rotation needs (port; `KeyVaultSecretStore` is the SDK adapter). The pending
 * secret `<name>-pending` is just another secret name here.
 * Each takes an optional `abortSignal`, which fires when the caller gave up (a rotation run out of time):
 * the call rejects, its request is given up and it is not tried again. A write given up may still have
 * landed; the rotation steps that make one can be repeated (RotationSteps).
 */
export interface SecretStore {
  /** The latest version of `name` (what clients without a version read); undefined when the secret does not exist. */
  getCurrent(name: string, abortSignal?: AbortSignal): Promise<SecretVersion | undefined>;
  /** Properties of every version, newest first (no values). */
  listVersions(name: string, abortSignal?: AbortSignal): Promise<SecretVersionInfo[]>;
  /** Writes a new version (enabled) and returns its properties. */
  setVersion(
    name: string,
    value: string,
    options: SetSecretOptions,
    abortSignal?: AbortSignal,
  ): Promise<SecretVersionInfo>;
  /** Disables one version (it stays in history). */
  disableVersion(name: string, version: string, abortSignal?: AbortSignal): Promise<void>;
}

/** Name of the pending secret that carries a new key between the create and finish steps. */
export function pendingSecretName(secretName: string): string {
  return `${secretName}-pending`;
}

/** Tags this app writes on the versions it creates. */
export const SECRET_TAGS = {
  rotationId: 'rotationId',
  slot: 'slot',
  rotatedAt: 'rotatedAt',
  managedBy: 'managedBy',
} as const;

/** Value of the `managedBy` tag. */
export const MANAGED_BY = 'aml-credential-broker';
