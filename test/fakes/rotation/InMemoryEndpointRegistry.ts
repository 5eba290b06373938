import type {
  EndpointPage,
  EndpointRegistry,
  FileEntryClash,
  VersionedEndpoint,
} from '../../../shared/endpoints/EndpointRegistry';
import {
  type ArmCoordinates,
  armIdentity,
  type EndpointKind,
  type ManagedEndpoint,
  secretIdentity,
} from '../../../shared/endpoints/ManagedEndpoint';
import type { PageRequest } from '../../../shared/listPages';
import {
  EndpointAlreadyRegisteredError,
  EndpointChangedError,
  EndpointExistsError,
  EndpointNotFoundError,
  EndpointReadOnlyError,
  EndpointRecordUnreadableError,
} from '../../../shared/rotation/errors';
import { keyPage } from '../keyPage';

/**
 * The endpoint registry in memory, each endpoint stored with a version like a Table row's ETag. Ids in
 * `readOnly` behave like ENDPOINTS_FILE entries; `beforeReplace` runs inside the next replace, before
 * its version check (another write landing in between). `serverPageLimit` makes `listPage` answer
 * shorter pages than asked for, as Table storage may. `unreadable` holds rows edited by hand into something
 * that is no endpoint (id → what is wrong, and the secret and the ARM coordinates whose claims the row
 * holds): point reads of them throw, as do lookups and writes through a claim they hold, listings skip
 * them, `delete` removes them with their claims, as the Table registry does.
 */
export class InMemoryEndpointRegistry implements EndpointRegistry {
  readonly endpoints = new Map<string, ManagedEndpoint>();
  readonly readOnly = new Set<string>();
  readonly unreadable = new Map<
    string,
    { why: string; secretName?: string; at?: { kind: EndpointKind; arm: ArmCoordinates } }
  >();
  beforeReplace: (() => Promise<void>) | undefined;
  serverPageLimit = Infinity;
  private readonly versions = new Map<string, string>();
  private writes = 0;

  async get(id: string): Promise<ManagedEndpoint | undefined> {
    this.requireReadable(id);
    return this.endpoints.get(id);
  }

  async getVersioned(id: string): Promise<VersionedEndpoint | undefined> {
    this.requireReadable(id);
    const endpoint = this.endpoints.get(id);
    return endpoint && { endpoint, version: this.versionOf(id) };
  }

  /**
   * As the Table registry: unreadable rows take their place among the rows a page reads, so a page may hold
   * fewer endpoints than asked for (none, even) while more follow, and each is named in the page that read it.
   */
  async listPage(request: PageRequest): Promise<EndpointPage> {
    const rows = [
      ...[...this.endpoints.values()].map((endpoint) => ({ id: endpoint.id, endpoint })),
      ...[...this.unreadable].map(([id, { why }]) => ({ id, why })),
    ];
    const { items, after } = keyPage(rows, request, this.serverPageLimit);
    const unreadable = items.flatMap((row) => ('why' in row ? [{ id: row.id, why: row.why }] : []));
    return {
      items: items.flatMap((row) => ('endpoint' in row ? [row.endpoint] : [])),
      ...(unreadable.length > 0 ? { unreadable } : {}),
      ...(after !== undefined ? { after } : {}),
    };
  }

  async findBySecretName(secretName: string): Promise<ManagedEndpoint | undefined> {
    for (const [id, row] of this.unreadable)
      if (row.secretName && secretIdentity(row.secretName) === secretIdentity(secretName))
        this.requireReadable(id);
    return this.ownerOf(secretName);
  }

  async findByArm(kind: EndpointKind, arm: ArmCoordinates): Promise<ManagedEndpoint | undefined> {
    this.requireArmClaimReadable(armIdentity({ kind, arm }));
    const at = this.registeredAt(armIdentity({ kind, arm }));
    return at.find((e) => !e.retiredAt) ?? at[0];
  }

  /**
   * As the Table registry: the `readOnly` entry (ENDPOINTS_FILE's stand-in) at the endpoint's place under another
   * id, else the one with its secret.
   */
  async fileEntryClash(
    endpoint: Pick<ManagedEndpoint, 'id' | 'kind' | 'arm' | 'secretName'>,
  ): Promise<FileEntryClash | undefined> {
    const other = (e: ManagedEndpoint): boolean => this.readOnly.has(e.id) && e.id !== endpoint.id;
    const atEndpoint = this.registeredAt(armIdentity(endpoint)).find(other);
    const withSecret = this.sharersOf(endpoint.secretName).find(other);
    if (atEndpoint) {
      const secretOf = withSecret && withSecret.id !== atEndpoint.id ? { secretOf: withSecret.id } : {};
      return { entry: atEndpoint.id, shares: 'endpoint', ...secretOf };
    }
    return withSecret && { entry: withSecret.id, shares: 'secret' };
  }

  async declaredInFile(id: string): Promise<boolean> {
    return this.readOnly.has(id);
  }

  async create(endpoint: ManagedEndpoint): Promise<void> {
    this.writable(endpoint.id);
    if (this.endpoints.has(endpoint.id) || this.unreadable.has(endpoint.id))
      throw EndpointExistsError.idTaken(endpoint.id);
    this.requireArmFree(endpoint);
    this.requireSecretFree(endpoint);
    this.store(endpoint);
  }

  async replace(endpoint: ManagedEndpoint, version: string): Promise<void> {
    this.writable(endpoint.id);
    const meanwhile = this.beforeReplace;
    this.beforeReplace = undefined;
    await meanwhile?.();
    if (!this.endpoints.has(endpoint.id)) throw new EndpointNotFoundError(endpoint.id);
    if (this.versionOf(endpoint.id) !== version) throw new EndpointChangedError(endpoint.id);
    // As the Table registry: endpoints seeded at one place (registered twice before claims) may still change.
    if (armIdentity(this.endpoints.get(endpoint.id)!) !== armIdentity(endpoint))
      this.requireArmFree(endpoint);
    // As the Table registry, whose claims `readOnly` entries do not hold: a stored row keeping the secret an
    // entry declares is changed; only the admin service refuses a rename onto it.
    this.requireSecretFree(endpoint, { claimsOnly: true });
    this.store(endpoint);
  }

  async delete(id: string): Promise<void> {
    this.writable(id);
    this.endpoints.delete(id);
    this.unreadable.delete(id);
    this.versions.delete(id);
  }

  private requireReadable(id: string): void {
    const row = this.unreadable.get(id);
    if (row) throw new EndpointRecordUnreadableError(id, row.why);
  }

  /** As the Table registry: a `readOnly` entry (ENDPOINTS_FILE's stand-in) before a row sharing its secret. */
  private ownerOf(secretName: string): ManagedEndpoint | undefined {
    const sharers = this.sharersOf(secretName);
    return sharers.find((e) => this.readOnly.has(e.id)) ?? sharers[0];
  }

  private sharersOf(secretName: string): ManagedEndpoint[] {
    const wanted = secretIdentity(secretName);
    return [...this.endpoints.values()].filter((e) => secretIdentity(e.secretName) === wanted);
  }

  /**
   * Like the Table registry's secret-name claims: one owner per Key Vault secret. `claimsOnly`: as a replace
   * sees it, through the claims of stored rows alone (`readOnly` entries hold none).
   */
  private requireSecretFree(endpoint: ManagedEndpoint, { claimsOnly = false } = {}): void {
    const owner = claimsOnly
      ? this.sharersOf(endpoint.secretName).find((e) => !this.readOnly.has(e.id))
      : this.ownerOf(endpoint.secretName);
    if (owner && owner.id !== endpoint.id)
      throw EndpointExistsError.secretTaken(endpoint.secretName, owner.id);
  }

  private registeredAt(identity: string | undefined): ManagedEndpoint[] {
    return [...this.endpoints.values()].filter((e) => armIdentity(e) === identity);
  }

  /** Like the Table registry's claim of coordinates held by a row that cannot be read: that row's error. */
  private requireArmClaimReadable(identity: string | undefined): void {
    for (const [id, row] of this.unreadable)
      if (row.at && armIdentity(row.at) === identity) this.requireReadable(id);
  }

  /** Like the Table registry's ARM-coordinate claims: one registration per Azure ML endpoint. */
  private requireArmFree(endpoint: ManagedEndpoint): void {
    this.requireArmClaimReadable(armIdentity(endpoint));
    const other = this.registeredAt(armIdentity(endpoint)).find((e) => e.id !== endpoint.id);
    if (other) throw new EndpointAlreadyRegisteredError(endpoint.kind, endpoint.arm, other.id);
  }

  /** Endpoints seeded straight into `endpoints` by a test have a version too. */
  private versionOf(id: string): string {
    return this.versions.get(id) ?? 'seeded';
  }

  private store(endpoint: ManagedEndpoint): void {
    this.endpoints.set(endpoint.id, endpoint);
    this.versions.set(endpoint.id, String(++this.writes));
  }

  private writable(id: string): void {
    if (this.readOnly.has(id)) throw new EndpointReadOnlyError(id);
  }
}
