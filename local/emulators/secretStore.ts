import { randomUUID } from 'node:crypto';

/** One stored secret version (times in epoch seconds, like Key Vault). */
export interface SecretVersion {
  readonly version: string;
  readonly value: string;
  contentType?: string;
  tags?: Record<string, string>;
  enabled: boolean;
  nbf?: number;
  exp?: number;
  readonly created: number;
  updated: number;
}

/** Properties settable by PUT and PATCH. */
export interface SecretProperties {
  contentType?: string;
  tags?: Record<string, string>;
  enabled?: boolean;
  nbf?: number;
  exp?: number;
}

interface SecretEntry {
  name: string;
  versions: SecretVersion[];
}

/** A deleted secret, kept for `GET /deletedsecrets/{name}`. */
export interface DeletedSecret {
  readonly name: string;
  readonly latest: SecretVersion;
  readonly deletedDate: number;
}

/** In-memory secrets of the vault; names are case-insensitive like Key Vault's. */
export class SecretStore {
  private readonly secrets = new Map<string, SecretEntry>();
  private readonly deleted = new Map<string, DeletedSecret>();

  /** Adds a new version and returns it. */
  set(name: string, value: string, props: SecretProperties, nowSeconds: number): SecretVersion {
    const key = name.toLowerCase();
    const entry = this.secrets.get(key) ?? { name, versions: [] };
    this.deleted.delete(key);
    const version: SecretVersion = {
      version: randomUUID().replace(/-/g, ''),
      value,
      enabled: props.enabled ?? true,
      created: nowSeconds,
      updated: nowSeconds,
      ...(props.contentType !== undefined ? { contentType: props.contentType } : {}),
      ...(props.tags !== undefined ? { tags: { ...props.tags } } : {}),
      ...(props.nbf !== undefined ? { nbf: props.nbf } : {}),
      ...(props.exp !== undefined ? { exp: props.exp } : {}),
    };
    entry.versions.push(version);
    this.secrets.set(key, entry);
    return version;
  }

  /** The stored spelling of a secret's name. */
  displayName(name: string): string {
    return this.secrets.get(name.toLowerCase())?.name ?? this.deleted.get(name.toLowerCase())?.name ?? name;
  }

  /** A version (latest when `version` is empty). */
  get(name: string, version = ''): SecretVersion | undefined {
    const versions = this.secrets.get(name.toLowerCase())?.versions ?? [];
    if (version === '') return versions[versions.length - 1];
    return versions.find((v) => v.version === version.toLowerCase());
  }

  /** Updates properties of a version in place. */
  update(
    name: string,
    version: string,
    props: SecretProperties,
    nowSeconds: number,
  ): SecretVersion | undefined {
    const found = this.get(name, version);
    if (!found) return undefined;
    if (props.contentType !== undefined) found.contentType = props.contentType;
    if (props.tags !== undefined) found.tags = { ...props.tags };
    if (props.enabled !== undefined) found.enabled = props.enabled;
    if (props.nbf !== undefined) found.nbf = props.nbf;
    if (props.exp !== undefined) found.exp = props.exp;
    found.updated = nowSeconds;
    return found;
  }

  /** Every version of a secret, oldest first. */
  versions(name: string): readonly SecretVersion[] {
    return this.secrets.get(name.toLowerCase())?.versions ?? [];
  }

  /** Names of all (not deleted) secrets, sorted case-insensitively. */
  names(): string[] {
    return [...this.secrets.values()]
      .map((e) => e.name)
      .sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  }

  /** Deletes a secret (all versions); returns what was deleted. */
  delete(name: string, nowSeconds: number): DeletedSecret | undefined {
    const key = name.toLowerCase();
    const entry = this.secrets.get(key);
    const latest = entry?.versions[entry.versions.length - 1];
    if (!entry || !latest) return undefined;
    this.secrets.delete(key);
    const deleted = { name: entry.name, latest, deletedDate: nowSeconds };
    this.deleted.set(key, deleted);
    return deleted;
  }

  /** A deleted secret, if any. */
  getDeleted(name: string): DeletedSecret | undefined {
    return this.deleted.get(name.toLowerCase());
  }

  /** Removes a deleted secret for good. */
  purge(name: string): boolean {
    return this.deleted.delete(name.toLowerCase());
  }
}
