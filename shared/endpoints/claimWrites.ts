import type { TableClient, TransactionAction } from '@azure/data-tables';

import {
  EndpointAlreadyRegisteredError,
  EndpointExistsError,
  EndpointRecordUnreadableError,
} from '../rotation/errors';
import {
  type ArmClaimHeld,
  type EndpointEntity,
  readRow,
  releaseArmClaim,
  releaseSecretClaim,
  secretClaimOf,
  takeArmClaim,
  takeSecretClaim,
  toEntity,
} from './endpointRows';
import { armIdentity, type ManagedEndpoint, secretIdentity } from './ManagedEndpoint';
import { readStored } from './storedEndpoint';

// The claims a create or replace of an endpoint row writes in its transaction, and the typed error of a
// write a claim another endpoint holds refuses (see `endpointRows.ts` for the claims themselves).

/**
 * Why `endpoint` cannot have the coordinates' claim another holds: that registration, or, when its row
 * cannot be read, that row (a person must mend or DELETE it first: its coordinates may still be these).
 */
function armHeldError(endpoint: ManagedEndpoint, held: ArmClaimHeld): Error {
  return held.holderUnreadable !== undefined
    ? new EndpointRecordUnreadableError(held.heldBy, held.holderUnreadable)
    : new EndpointAlreadyRegisteredError(endpoint.kind, endpoint.arm, held.heldBy);
}

/**
 * The actions that create `endpoint`'s row with its secret-name and coordinate claims, taking over claims
 * left over (see `takeSecretClaim`, `takeArmClaim`).
 * @throws (see {@link armHeldError}) when another registration holds the coordinates' claim
 */
export async function createActions(
  table: TableClient,
  endpoint: ManagedEndpoint,
): Promise<TransactionAction[]> {
  const [secret, arm] = await Promise.all([takeSecretClaim(table, endpoint), takeArmClaim(table, endpoint)]);
  if ('heldBy' in arm) throw armHeldError(endpoint, arm);
  // A secret another endpoint holds is left to the transaction's 409: `createConflict` then names what was
  // taken in the admin service's order (the id before the secret).
  const secretActions: TransactionAction[] =
    'heldBy' in secret ? [['create', secretClaimOf(endpoint)]] : secret.actions;
  return [['create', toEntity(endpoint)], ...secretActions, ...arm.actions];
}

/**
 * Why a create conflicted, read back: nothing, when the SDK's retry of a create that landed (its answer
 * lost) finds the very rows it sent; else the id, the secret or the coordinates taken (in the order the
 * admin service checks them).
 */
export async function createConflict(
  table: TableClient,
  endpoint: ManagedEndpoint,
): Promise<Error | undefined> {
  const [row, secret, arm] = await Promise.all([
    readRow(table, endpoint.id),
    takeSecretClaim(table, endpoint),
    takeArmClaim(table, endpoint),
  ]);
  const armHeld = 'heldBy' in arm && arm.heldBy !== endpoint.id ? arm : undefined;
  // The row and its claims are written in one transaction: the very row read back means they all landed.
  if (row?.endpoint === JSON.stringify(endpoint) && !('heldBy' in secret) && !armHeld) return undefined;
  if (row) return EndpointExistsError.idTaken(endpoint.id);
  if ('heldBy' in secret) return EndpointExistsError.secretTaken(endpoint.secretName, secret.heldBy);
  if (armHeld) return armHeldError(endpoint, armHeld);
  return EndpointExistsError.idTaken(endpoint.id);
}

/**
 * The actions that keep the endpoint's secret-name claim as a replace renames or keeps its secret: a
 * secret another endpoint holds is refused; a row written before claims existed gets its claim now, and a
 * claim left over naming an endpoint that no longer has the secret is taken over (`takeSecretClaim`).
 */
export async function secretClaimOnReplace(
  table: TableClient,
  endpoint: ManagedEndpoint,
  stored: EndpointEntity,
): Promise<TransactionAction[]> {
  const secret = await takeSecretClaim(table, endpoint);
  if ('heldBy' in secret) throw EndpointExistsError.secretTaken(endpoint.secretName, secret.heldBy);
  const actions = [...secret.actions];
  if (secretIdentity(stored.secretName) !== secretIdentity(endpoint.secretName))
    actions.push(...(await releaseSecretClaim(table, endpoint.id, stored.secretName)));
  return actions;
}

/**
 * The actions that keep the endpoint's coordinate claim as a replace moves or keeps them. A move onto
 * coordinates another endpoint is registered at is refused; a row written before these claims, at
 * coordinates another registration claimed since (one endpoint registered twice back then), is still
 * changed (retired, disabled, moved away), without the claim: refusing would keep it in service.
 */
export async function armClaimOnReplace(
  table: TableClient,
  endpoint: ManagedEndpoint,
  stored: EndpointEntity,
): Promise<TransactionAction[]> {
  const before = readStored(stored);
  const moved = !('endpoint' in before) || armIdentity(before.endpoint) !== armIdentity(endpoint);
  const arm = await takeArmClaim(table, endpoint);
  if ('heldBy' in arm) {
    if (moved) throw armHeldError(endpoint, arm);
    // Kept at coordinates another registration claimed since: changed without the claim (see above).
    return [];
  }
  const released = moved && 'endpoint' in before ? await releaseArmClaim(table, before.endpoint) : [];
  return [...arm.actions, ...released];
}
