import type { TableClient, TransactionAction } from '@azure/data-tables';

import { statusOf } from '../networkErrors';
import { sdk } from '../sdk';
import { armIdentity, type ManagedEndpoint, secretIdentity } from './ManagedEndpoint';
import { readStored } from './storedEndpoint';
import { isSecretName } from './validateEndpoint';

// How the endpoint registry lays out its table: one partition holding a row per endpoint (row key = id),
// a row per secret-name claim and a row per ARM-coordinate claim, and the single-row reads and writes
// that the registry and its claim scans share.

/** The partition of every endpoint row and claim: a Table transaction writes within one partition only. */
export const PARTITION = 'endpoint';

/**
 * Row keys of secret-name claims: one row per Key Vault secret, holding the id of the endpoint that
 * owns it. An endpoint row and its claim are written in one transaction, so two endpoints can never
 * own one secret, however their writes interleave. `~` sorts after every character of an endpoint id,
 * so `RowKey lt '~'` lists endpoint rows only.
 */
const SECRET_CLAIM_PREFIX = '~secret~';

/**
 * Row keys of ARM-coordinate claims: one row per Azure ML endpoint (`armIdentity`: kind and coordinates,
 * ignoring case), holding the id of the registration that rotates it, written in the endpoint row's
 * transaction as the secret's claim is. Two registrations of one endpoint would each regenerate the key
 * they think inactive, which may be the one the other just stored. It sorts after `~secret~`: every
 * version lists endpoint rows as `RowKey lt '~secret~'`, and one from before these claims, running beside
 * this one, must not read them as endpoints.
 */
const ARM_CLAIM_PREFIX = '~target~';

// Types, not interfaces: transaction actions take rows as a `Record<string, unknown>`.
/** A claim row, of a secret name or of ARM coordinates: the id of the endpoint that holds it. */
export type ClaimEntity = {
  partitionKey: string;
  rowKey: string;
  endpointId: string;
};

/** A claim as read, with the ETag a takeover of it is conditional on. */
type ReadClaim = ClaimEntity & { etag: string };

export type EndpointEntity = {
  partitionKey: string;
  rowKey: string;
  /** The whole endpoint as JSON: one column keeps the schema in one place (validateEndpoint). */
  endpoint: string;
  secretName: string;
};

/** The OData filter of the endpoint rows (claims left out), after the row key `after` when given. */
export function endpointRowsFilter(after?: string): string {
  const { odata } = sdk.tables();
  return after === undefined
    ? odata`PartitionKey eq ${PARTITION} and RowKey lt ${SECRET_CLAIM_PREFIX}`
    : odata`PartitionKey eq ${PARTITION} and RowKey gt ${after} and RowKey lt ${SECRET_CLAIM_PREFIX}`;
}

/** The secret-name claim row `endpoint` writes beside its own row. */
export function secretClaimOf(endpoint: ManagedEndpoint): ClaimEntity {
  return secretClaimAt(secretIdentity(endpoint.secretName), endpoint.id);
}

/** The secret-name claim row at `identity` (see `secretIdentity`), naming endpoint `endpointId`. */
export function secretClaimAt(identity: string, endpointId: string): ClaimEntity {
  return { partitionKey: PARTITION, rowKey: secretClaimKey(identity), endpointId };
}

function secretClaimKey(identity: string): string {
  return `${SECRET_CLAIM_PREFIX}${identity}`;
}

/** The ARM-coordinate claim row at `identity` (see `armIdentity`), naming endpoint `endpointId`. */
export function armClaimAt(identity: string, endpointId: string): ClaimEntity {
  return { partitionKey: PARTITION, rowKey: armClaimKey(identity), endpointId };
}

function armClaimKey(identity: string): string {
  return `${ARM_CLAIM_PREFIX}${identity}`;
}

export async function readRow(
  table: TableClient,
  id: string,
  abortSignal?: AbortSignal,
): Promise<(EndpointEntity & { etag: string }) | undefined> {
  return readEntity<EndpointEntity>(table, id, abortSignal);
}

/** The claim of `endpoint`'s secret name (see `secretIdentity`). */
export async function readSecretClaim(
  table: TableClient,
  endpoint: Pick<ManagedEndpoint, 'secretName'>,
  abortSignal?: AbortSignal,
): Promise<ReadClaim | undefined> {
  return readSecretClaimAt(table, secretIdentity(endpoint.secretName), abortSignal);
}

/** The claim of the secret at `identity` (see `secretIdentity`). @param abortSignal - ends the read */
export async function readSecretClaimAt(
  table: TableClient,
  identity: string,
  abortSignal?: AbortSignal,
): Promise<ReadClaim | undefined> {
  return readEntity<ClaimEntity>(table, secretClaimKey(identity), abortSignal);
}

/** The claim of the endpoint at `identity` (see `armIdentity`). @param abortSignal - ends the read */
export async function readArmClaim(
  table: TableClient,
  identity: string,
  abortSignal?: AbortSignal,
): Promise<ReadClaim | undefined> {
  return readEntity<ClaimEntity>(table, armClaimKey(identity), abortSignal);
}

/**
 * What taking a claim needs: its actions, or, held by another, who holds it (`Held`: for ARM coordinates,
 * {@link ArmClaimHeld}).
 */
export type ClaimTaking<Held extends { readonly heldBy: string } = { readonly heldBy: string }> =
  { readonly actions: TransactionAction[] } | Held;

/** An ARM-coordinate claim another registration holds. */
export interface ArmClaimHeld {
  /** The registration that holds the claim. */
  readonly heldBy: string;
  /**
   * Why the row of `heldBy` cannot be read (see {@link readStored}): a row edited by hand may still be at
   * these coordinates, so its claim is neither taken over nor a registration to name.
   */
  readonly holderUnreadable?: string;
}

/**
 * The actions that give `endpoint` its ARM-coordinate claim, or the id of the registration that holds it.
 * A claim naming an endpoint whose row is gone or no longer at those coordinates is left over: a version
 * from before these claims deleted or moved the endpoint (a rolling deployment) and left it. Such a claim,
 * and the endpoint's own, is rewritten `If-Match` the ETag read, so that a write that meanwhile claims it
 * (or moves its endpoint back) fails one of the two transactions (412, or 409 for a claim created). A
 * claim naming a row that cannot be read is held (`holderUnreadable`): its coordinates cannot be trusted
 * either way, and DELETE of that row frees the claim.
 */
export async function takeArmClaim(
  table: TableClient,
  endpoint: ManagedEndpoint,
): Promise<ClaimTaking<ArmClaimHeld>> {
  const identity = armIdentity(endpoint);
  const wanted = armClaimAt(identity, endpoint.id);
  const claim = await readArmClaim(table, identity);
  if (!claim) return { actions: [['create', wanted]] };
  if (claim.endpointId !== endpoint.id) {
    const holder = await readRow(table, claim.endpointId);
    const held = holder && readStored(holder);
    if (held && 'unreadable' in held) return { heldBy: claim.endpointId, holderUnreadable: held.unreadable };
    if (held && armIdentity(held.endpoint) === identity) return { heldBy: held.endpoint.id };
  }
  return { actions: [['update', wanted, 'Replace', { etag: claim.etag }]] };
}

/**
 * Whether the endpoint row `row` (undefined: gone) still holds the secret at `identity` (see
 * `secretIdentity`), as a claim naming it says. A row that cannot be read holds it: its columns cannot be
 * trusted either way (lookups through its claim answer `ENDPOINT_RECORD_UNREADABLE`; DELETE frees it).
 */
function holdsSecret(row: EndpointEntity | undefined, identity: string): boolean {
  if (!row) return false;
  const read = readStored(row);
  return !('endpoint' in read) || secretIdentity(read.endpoint.secretName) === identity;
}

/**
 * The actions that give `endpoint` its secret-name claim, or the id of the endpoint that holds it. A claim
 * naming an endpoint whose row is gone or no longer has that secret is left over, and taken over `If-Match`
 * the ETag read, as `takeArmClaim` takes over a coordinate claim: a claim scan wrote it for a row renamed as
 * the scan passed it, or a version from before the claims deleted or renamed the endpoint and left it.
 * Without the takeover the secret could never be registered again, nor renamed to.
 */
export async function takeSecretClaim(
  table: TableClient,
  endpoint: Pick<ManagedEndpoint, 'id' | 'secretName'>,
): Promise<ClaimTaking> {
  const identity = secretIdentity(endpoint.secretName);
  const wanted = secretClaimAt(identity, endpoint.id);
  const claim = await readSecretClaimAt(table, identity);
  if (!claim) return { actions: [['create', wanted]] };
  if (claim.endpointId !== endpoint.id && holdsSecret(await readRow(table, claim.endpointId), identity))
    return { heldBy: claim.endpointId };
  return { actions: [['update', wanted, 'Replace', { etag: claim.etag }]] };
}

/**
 * The action that frees the ARM coordinates of `stored` (the endpoint as its row was read) when it holds
 * their claim; none otherwise. A row that cannot be read has no coordinates to trust: see `releaseClaimsOf`.
 */
export async function releaseArmClaim(
  table: TableClient,
  stored: ManagedEndpoint,
): Promise<TransactionAction[]> {
  const claim = await readArmClaim(table, armIdentity(stored));
  return claim?.endpointId === stored.id
    ? [['delete', { partitionKey: PARTITION, rowKey: claim.rowKey }]]
    : [];
}

/** The action that frees `secretName` when endpoint `id` holds its claim; none otherwise. */
export async function releaseSecretClaim(
  table: TableClient,
  id: string,
  secretName: string,
): Promise<TransactionAction[]> {
  const claim = await readSecretClaim(table, { secretName });
  return claim?.endpointId === id ? [['delete', { partitionKey: PARTITION, rowKey: claim.rowKey }]] : [];
}

/**
 * The actions that free every claim naming endpoint `id`, its secrets' and its ARM coordinates', found by
 * a query of the claims rather than by a secret name or coordinates: for a row whose columns cannot be
 * trusted (one edited by hand). Its secret's claim would otherwise keep the secret, and so the id, from
 * ever being registered again, and its coordinates' claim would be left naming a registration that is
 * gone. One query reads both kinds: `~target~` sorts after `~secret~`.
 */
async function releaseClaimsOf(table: TableClient, id: string): Promise<TransactionAction[]> {
  const { odata } = sdk.tables();
  const claims = table.listEntities<ClaimEntity>({
    queryOptions: {
      filter: odata`PartitionKey eq ${PARTITION} and RowKey gt ${SECRET_CLAIM_PREFIX} and endpointId eq ${id}`,
      select: ['rowKey'],
    },
  });
  const actions: TransactionAction[] = [];
  for await (const claim of claims)
    actions.push(['delete', { partitionKey: PARTITION, rowKey: claim.rowKey }]);
  return actions;
}

/**
 * The actions that free the claims of the endpoint row `stored`, as it is deleted: by its secret name and
 * coordinates, or by owner ({@link releaseClaimsOf}) when the row cannot be read (DELETE is the way out of
 * one): a hand edit may have changed its secretName column too.
 */
export async function releaseClaimsOfRow(
  table: TableClient,
  stored: EndpointEntity,
): Promise<TransactionAction[]> {
  const id = stored.rowKey;
  const read = readStored(stored);
  if (!('endpoint' in read) || !isSecretName(stored.secretName)) return releaseClaimsOf(table, id);
  return [
    ...(await releaseSecretClaim(table, id, stored.secretName)),
    ...(await releaseArmClaim(table, read.endpoint)),
  ];
}

async function readEntity<T extends object>(
  table: TableClient,
  rowKey: string,
  abortSignal?: AbortSignal,
): Promise<(T & { etag: string }) | undefined> {
  try {
    return await table.getEntity<T>(PARTITION, rowKey, { abortSignal });
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
}

export function toEntity(endpoint: ManagedEndpoint): EndpointEntity {
  return {
    partitionKey: PARTITION,
    rowKey: endpoint.id,
    endpoint: JSON.stringify(endpoint),
    secretName: endpoint.secretName,
  };
}
