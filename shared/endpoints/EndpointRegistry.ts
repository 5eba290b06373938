import type { Page, PageRequest } from '../listPages';
import type { ArmCoordinates, EndpointKind, ManagedEndpoint } from './ManagedEndpoint';

/** One page of {@link EndpointRegistry.listPage} (of endpoints as `T`, for ports that read fewer fields). */
export interface EndpointPage<T = ManagedEndpoint> extends Page<T> {
  /**
   * The stored rows in this page's key range that were skipped because they cannot be read, in key order;
   * each is in one page of a walk only, so a walk can count them (`eachEndpoint`: the timer's round and the
   * events walk of a deleted workspace or resource group do) and the admin list can name them.
   */
  readonly unreadable?: readonly UnreadableRow[];
}

/** A stored row a listing skipped: its id, and what is wrong with it (field names, never the row's content). */
export interface UnreadableRow {
  readonly id: string;
  /** As `EndpointRecordUnreadableError` says it: `its endpoint column is not JSON`, say. */
  readonly why: string;
}

/** An `ENDPOINTS_FILE` entry a table row collides with ({@link EndpointRegistry.fileEntryClash}). */
export interface FileEntryClash {
  /** The entry's id. */
  readonly entry: string;
  /** What the two share: `endpoint`, the Azure ML endpoint (the secret may be shared too); `secret`, the Key Vault secret only. */
  readonly shares: 'endpoint' | 'secret';
  /**
   * With `shares: 'endpoint'`, another entry that declares the row's Key Vault secret, if any: that entry
   * rotates its own endpoint's keys into it, so a key read there is not this endpoint's.
   */
  readonly secretOf?: string;
}

/** An endpoint as read for a change; `version` (the row's ETag) is what `replace` is conditional on. */
export interface VersionedEndpoint {
  readonly endpoint: ManagedEndpoint;
  readonly version: string;
}

/**
 * The endpoints the app looks after (port; `TableEndpointRegistry` stores them in Table storage and
 * merges read-only entries declared in `ENDPOINTS_FILE`). Used by rotation and by the broker. Writes
 * never overwrite blindly: a create fails when the id is taken and a replace fails when the endpoint
 * changed since it was read, so two admin calls (or an admin call and an Event Grid retirement) that
 * overlap cannot undo each other. A stored endpoint that cannot be read (its row edited by hand into
 * something that is not an endpoint) is neither an endpoint nor "unknown": the point reads throw
 * `EndpointRecordUnreadableError` for it, the listings skip it with a warning, and `delete` removes it.
 */
export interface EndpointRegistry {
  /**
   * One endpoint by id; undefined when unknown. @throws EndpointRecordUnreadableError
   * @param abortSignal - the read, its request included, stops when it fires (a caller past its time limit)
   */
  get(id: string, abortSignal?: AbortSignal): Promise<ManagedEndpoint | undefined>;
  /** One endpoint with the version a `replace` must name; undefined when unknown. @throws EndpointRecordUnreadableError */
  getVersioned(id: string): Promise<VersionedEndpoint | undefined>;
  /**
   * One page of endpoints, file-declared ones included, in id order as Table storage orders keys
   * (code point by code point): the ids after `request.after`, at most `request.top` of them. A page
   * may hold fewer while more follow; only a page without `after` is the last. Rows that cannot be read
   * are skipped (each warned about once per walk) and named in `unreadable`.
   * @param abortSignal - the page's requests stop when it fires (a caller past its time limit)
   */
  listPage(request: PageRequest, abortSignal?: AbortSignal): Promise<EndpointPage>;
  /**
   * The endpoint whose main secret is `secretName`, compared as Key Vault does (ignoring case).
   * @param abortSignal - the lookup stops when it fires (a caller past its time limit: an Event Grid delivery)
   * @throws EndpointRecordUnreadableError when the secret's owner cannot be read
   */
  findBySecretName(secretName: string, abortSignal?: AbortSignal): Promise<ManagedEndpoint | undefined>;
  /**
   * The endpoint registered for the Azure ML endpoint of `kind` at `arm` (compared as ARM does, ignoring
   * case), whatever its id; one in service before a retired one. Rows that cannot be read are skipped
   * where it walks the rows, as the listings skip them.
   * @param abortSignal - the lookup stops when it fires (a caller past its time limit: an Event Grid delivery)
   * @throws EndpointRecordUnreadableError when the coordinates' claim names a row that cannot be read
   */
  findByArm(
    kind: EndpointKind,
    arm: ArmCoordinates,
    abortSignal?: AbortSignal,
  ): Promise<ManagedEndpoint | undefined>;
  /**
   * The `ENDPOINTS_FILE` entry a table row collides with under another id, and what the two share: the Azure
   * ML endpoint (kind and coordinates, ignoring case), else the Key Vault secret (ignoring case); undefined
   * when there is none, and for the entry itself. Such a row was registered before the file declared that
   * endpoint or secret: the file is the operator's declared truth (lookups answer the entry), and the two
   * would rotate one endpoint's keys against each other, or two endpoints' keys into one secret, so rotation
   * leaves the row alone. No storage read: the file is read once per process.
   */
  fileEntryClash(
    endpoint: Pick<ManagedEndpoint, 'id' | 'kind' | 'arm' | 'secretName'>,
  ): Promise<FileEntryClash | undefined>;
  /**
   * Whether `id` is an `ENDPOINTS_FILE` entry's (no storage read): the file's entries hold no claim rows, so
   * the admin service asks this of a secret's owner to say so, and to tell which clash a `PATCH` may keep.
   */
  declaredInFile(id: string): Promise<boolean>;
  /**
   * Stores a new endpoint. Throws `EndpointExistsError` when the id is taken or another stored
   * endpoint owns its secret, `EndpointAlreadyRegisteredError` when another stored endpoint is
   * registered for its kind and ARM coordinates (however the two creates interleave),
   * `EndpointRecordUnreadableError` when the coordinates' claim names a row that cannot be read,
   * `EndpointReadOnlyError` for file-declared ids.
   */
  create(endpoint: ManagedEndpoint): Promise<void>;
  /**
   * Replaces an endpoint if it is still at `version`. Throws `EndpointChangedError` when another write
   * landed since, `EndpointNotFoundError` when it was deleted, `EndpointExistsError` when another
   * stored endpoint owns the new secret, `EndpointAlreadyRegisteredError` when another is registered at
   * the kind and coordinates it moves to (`EndpointRecordUnreadableError` when the row holding them
   * cannot be read), `EndpointReadOnlyError` for file ids.
   */
  replace(endpoint: ManagedEndpoint, version: string): Promise<void>;
  /**
   * Deletes a table entry, with its secret-name and ARM-coordinate claims, readable or not (no-op when
   * absent); throws `EndpointReadOnlyError` for file-declared ids.
   */
  delete(id: string): Promise<void>;
}
