import type { Page, PageRequest } from '../listPages';
import type { ClientColumn } from './clientRows';

/**
 * Broker clients: callers that cannot use Microsoft Entra ID and authenticate to the broker with a
 * broker-issued secret instead. Two secrets (primary, secondary) let a client roll its own credential
 * without downtime. Secrets are never stored: only `HMAC-SHA256(pepper, secret)`.
 */

/** The two secret slots of a client (route segment of the regenerate call). */
export const SECRET_SLOTS = ['primary', 'secondary'] as const;
export type SecretSlot = (typeof SECRET_SLOTS)[number];

/** A client as stored. The hashes are base64url HMAC-SHA256 values and never leave the registry's users. */
export interface BrokerClientRecord {
  readonly id: string;
  readonly displayName: string;
  readonly primarySecretHash: string;
  readonly secondarySecretHash: string;
  /** Normalised scopes (endpoint ids and resource URIs without `/.default`). */
  readonly allowedScopes: readonly string[];
  /** Requests per minute; undefined uses the configured default. */
  readonly rateLimitPerMinute?: number;
  readonly enabled: boolean;
  /** ISO time after which the client is refused. */
  readonly expiresAt?: string;
  /** The client may receive endpoint keys (only from endpoints that opted in too). */
  readonly keyAccess: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** The stored version this record was read at (set by the registry's reads; opaque). */
  readonly version?: string;
  /**
   * What the stored row holds besides these fields, as read: columns a newer version wrote (deployed
   * beside this one during a rolling deployment), which this version writes back as they were, so its
   * changes do not drop them. Never shown.
   */
  readonly otherColumns?: Readonly<Record<string, unknown>>;
}

/** What the admin API shows: the record without any secret material. */
export type BrokerClientView = Omit<
  BrokerClientRecord,
  'primarySecretHash' | 'secondarySecretHash' | 'version' | 'otherColumns'
>;

/** Strips the hashes (and what only storage needs: its version, other versions' columns) off a record. */
export function toClientView(record: BrokerClientRecord): BrokerClientView {
  const { primarySecretHash: _p, secondarySecretHash: _s, version: _v, otherColumns: _o, ...view } = record;
  return { ...view, allowedScopes: [...view.allowedScopes] };
}

/** A stored client a listing skipped because it cannot be read: its id and the columns at fault (by name). */
export interface UnreadableClientRow {
  readonly id: string;
  readonly fields: readonly ClientColumn[];
}

/** One page of clients, and the rows in its key range that cannot be read. */
export interface ClientPage extends Page<BrokerClientRecord> {
  /** In key order; absent when none. */
  readonly unreadable?: readonly UnreadableClientRow[];
}

/**
 * Where broker clients are kept. Table storage in Azure; in memory in tests. A stored client that cannot
 * be read (its row edited by hand into something this version does not write) is neither a client nor
 * "none": `get` throws `ClientRecordUnreadableError` for it, the listings skip it (`listPage` names it),
 * and `delete` removes it.
 */
export interface BrokerClientRegistry {
  /**
   * The client, or undefined when there is none with that id. @throws ClientRecordUnreadableError
   * @param abortSignal - the read, its request included, stops when it fires (a caller past its time limit)
   */
  get(id: string, abortSignal?: AbortSignal): Promise<BrokerClientRecord | undefined>;
  /**
   * One page of clients in id order as Table storage orders keys (code point by code point): the ids
   * after `request.after`, at most `request.top` of them. Only a page without `after` is the last. Rows
   * that cannot be read count against `top`, are not in `items`, and are named in `unreadable`.
   */
  listPage(request: PageRequest): Promise<ClientPage>;
  /** Stores a new client; `ConflictError` when the id is taken. */
  create(record: BrokerClientRecord): Promise<void>;
  /**
   * Replaces an existing client if it is still at `record.version` (whatever version when absent), so
   * two admin calls that read the same client cannot undo each other. `NotFoundError` when it does
   * not exist, `ClientChangedError` when another write came first.
   */
  update(record: BrokerClientRecord): Promise<void>;
  /** Deletes a client, readable or not; `NotFoundError` when it does not exist. */
  delete(id: string): Promise<void>;
}
