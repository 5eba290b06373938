import type { TableClient, TransactionAction } from '@azure/data-tables';

import { statusOf } from '../networkErrors';
import { sdk } from '../sdk';
import { type ManagedEndpoint, secretIdentity } from './ManagedEndpoint';

// How the endpoint registry lays out its table: one partition holding a row per endpoint (row key = id)
// and a row per secret-name claim, and the single-row reads and writes that the registry and its
// secret-name scan share.

/** The partition of every endpoint row and secret-name claim. */
export const PARTITION = 'endpoint';

/**
 * Row keys of secret-name claims: one row per Key Vault secret, holding the id of the endpoint that
 * owns it. An endpoint row and its claim are written in one transaction, so two endpoints can never
 * own one secret, however their writes interleave. `~` sorts after every character of an endpoint id,
 * so `RowKey lt '~'` lists endpoint rows only.
 */
const CLAIM_PREFIX = '~secret~';

// Types, not interfaces: transaction actions take rows as a `Record<string, unknown>`.
export type SecretClaimEntity = {
  partitionKey: string;
  rowKey: string;
  endpointId: string;
};

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
    ? odata`PartitionKey eq ${PARTITION} and RowKey lt ${CLAIM_PREFIX}`
    : odata`PartitionKey eq ${PARTITION} and RowKey gt ${after} and RowKey lt ${CLAIM_PREFIX}`;
}

export function claimOf(endpoint: ManagedEndpoint): SecretClaimEntity {
  return { partitionKey: PARTITION, rowKey: claimKey(endpoint), endpointId: endpoint.id };
}

function claimKey(endpoint: Pick<ManagedEndpoint, 'secretName'>): string {
  return `${CLAIM_PREFIX}${secretIdentity(endpoint.secretName)}`;
}

export async function readRow(
  table: TableClient,
  id: string,
): Promise<(EndpointEntity & { etag: string }) | undefined> {
  return readEntity<EndpointEntity>(table, id);
}

export async function readClaim(
  table: TableClient,
  endpoint: Pick<ManagedEndpoint, 'secretName'>,
): Promise<SecretClaimEntity | undefined> {
  return readEntity<SecretClaimEntity>(table, claimKey(endpoint));
}

/** The action that frees `secretName` when endpoint `id` holds its claim; none otherwise. */
export async function releaseClaim(
  table: TableClient,
  id: string,
  secretName: string,
): Promise<TransactionAction[]> {
  const claim = await readClaim(table, { secretName });
  return claim?.endpointId === id ? [['delete', { partitionKey: PARTITION, rowKey: claim.rowKey }]] : [];
}

async function readEntity<T extends object>(
  table: TableClient,
  rowKey: string,
): Promise<(T & { etag: string }) | undefined> {
  try {
    return await table.getEntity<T>(PARTITION, rowKey);
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

export function parse(entity: EndpointEntity): ManagedEndpoint {
  return JSON.parse(entity.endpoint) as ManagedEndpoint;
}

/** The row's endpoint; undefined when its column is not JSON of an object with the row's id. */
export function readable(entity: EndpointEntity): ManagedEndpoint | undefined {
  try {
    const endpoint = parse(entity) as Partial<ManagedEndpoint> | null;
    return typeof endpoint === 'object' && endpoint !== null && endpoint.id === entity.rowKey
      ? (endpoint as ManagedEndpoint)
      : undefined;
  } catch {
    return undefined;
  }
}
