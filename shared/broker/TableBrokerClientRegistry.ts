import type { TableClient, TableEntity, TableEntityResult } from '@azure/data-tables';

import { createTableOnce } from '../createOnce';
import { ConflictError, DependencyUnavailableError, NotFoundError } from '../errors';
import type { Page, PageRequest } from '../listPages';
import { statusOf } from '../networkErrors';
import { sdk } from '../sdk';
import { readRowsPage } from '../tablePages';
import type { BrokerClientRecord, BrokerClientRegistry } from './BrokerClient';
import { ClientChangedError } from './errors';

/** Options of {@link TableBrokerClientRegistry}. */
export interface TableBrokerClientRegistryOptions {
  /** The clients table (`config.tables.clients`). */
  table: TableClient;
}

/** Every client row lives in one partition, which the admin API lists a page at a time. */
const PARTITION = 'client';

type Row = Record<string, unknown>;

/**
 * The columns this version writes, and those storage adds to a row it reads. Any other column was
 * written by another version and is carried through an update as it was read (`otherColumns`): an
 * update replaces the whole row, since clearing a rate limit or an expiry removes its column.
 */
const OWN_COLUMNS = new Set([
  'partitionKey',
  'rowKey',
  'etag',
  'timestamp',
  'displayName',
  'primarySecretHash',
  'secondarySecretHash',
  'allowedScopes',
  'rateLimitPerMinute',
  'enabled',
  'expiresAt',
  'keyAccess',
  'createdAt',
  'updatedAt',
]);

/**
 * Broker clients in Table storage: PartitionKey `client`, RowKey = client id; scopes as a JSON array;
 * the two secret HMACs as base64url strings (never the secrets); the row's ETag is the record's
 * `version`, and updates are conditional on it. Storage errors other than the expected 404/409/412
 * become `DependencyUnavailableError('clientRegistry')`.
 */
export class TableBrokerClientRegistry implements BrokerClientRegistry {
  private readonly createTable: () => Promise<void>;

  constructor(private readonly options: TableBrokerClientRegistryOptions) {
    this.createTable = createTableOnce(options.table);
  }

  async get(id: string): Promise<BrokerClientRecord | undefined> {
    await this.ensureTable();
    try {
      return fromRow(await this.options.table.getEntity<Row>(PARTITION, id));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw unavailable(error);
    }
  }

  async list(): Promise<BrokerClientRecord[]> {
    await this.ensureTable();
    const records: BrokerClientRecord[] = [];
    try {
      const rows = this.options.table.listEntities<Row>({
        queryOptions: { filter: `PartitionKey eq '${PARTITION}'` },
      });
      for await (const row of rows) records.push(fromRow(row));
    } catch (error) {
      throw unavailable(error);
    }
    return records.sort((a, b) => a.id.localeCompare(b.id));
  }

  async listPage({ top, after }: PageRequest): Promise<Page<BrokerClientRecord>> {
    await this.ensureTable();
    const { odata } = sdk.tables();
    const filter =
      after === undefined
        ? odata`PartitionKey eq ${PARTITION}`
        : odata`PartitionKey eq ${PARTITION} and RowKey gt ${after}`;
    try {
      const { rows, more } = await readRowsPage<Row>(this.options.table, filter, top);
      const items = rows.map(fromRow);
      const last = items.at(-1);
      return more && last ? { items, after: last.id } : { items };
    } catch (error) {
      throw unavailable(error);
    }
  }

  async create(record: BrokerClientRecord): Promise<void> {
    await this.ensureTable();
    try {
      await this.options.table.createEntity(toRow(record));
    } catch (error) {
      if (statusOf(error) !== 409) throw unavailable(error);
      // The SDK's retry of a create that landed (its answer lost) finds our own row: its secret hash
      // comes from 256 random bits, so only this create can have written it.
      const stored = await this.get(record.id);
      if (stored?.primarySecretHash !== record.primarySecretHash)
        throw new ConflictError(`Broker client ${record.id} already exists.`);
    }
  }

  async update(record: BrokerClientRecord): Promise<void> {
    await this.ensureTable();
    try {
      await this.options.table.updateEntity(toRow(record), 'Replace', { etag: record.version ?? '*' });
    } catch (error) {
      if (statusOf(error) === 404) throw new NotFoundError(`No broker client ${record.id}.`);
      if (statusOf(error) === 412)
        throw new ClientChangedError(`Broker client ${record.id} changed meanwhile.`);
      throw unavailable(error);
    }
  }

  async delete(id: string): Promise<void> {
    await this.ensureTable();
    try {
      await this.options.table.deleteEntity(PARTITION, id);
    } catch (error) {
      if (statusOf(error) === 404) throw new NotFoundError(`No broker client ${id}.`);
      throw unavailable(error);
    }
  }

  private async ensureTable(): Promise<void> {
    await this.createTable().catch((error: unknown) => {
      throw unavailable(error);
    });
  }
}

function unavailable(error: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError('clientRegistry', 'The client registry is not reachable.', {
    cause: error,
  });
}

function toRow(record: BrokerClientRecord): TableEntity<Row> {
  return {
    ...record.otherColumns,
    partitionKey: PARTITION,
    rowKey: record.id,
    displayName: record.displayName,
    primarySecretHash: record.primarySecretHash,
    secondarySecretHash: record.secondarySecretHash,
    allowedScopes: JSON.stringify(record.allowedScopes),
    ...(record.rateLimitPerMinute !== undefined ? { rateLimitPerMinute: record.rateLimitPerMinute } : {}),
    enabled: record.enabled,
    ...(record.expiresAt !== undefined ? { expiresAt: record.expiresAt } : {}),
    keyAccess: record.keyAccess,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

function fromRow(row: TableEntityResult<Row> | Row): BrokerClientRecord {
  const text = (name: string): string => (typeof row[name] === 'string' ? row[name] : '');
  let scopes: unknown;
  try {
    scopes = JSON.parse(text('allowedScopes') || '[]');
  } catch {
    scopes = [];
  }
  const rate = row['rateLimitPerMinute'];
  return {
    id: text('rowKey'),
    displayName: text('displayName'),
    primarySecretHash: text('primarySecretHash'),
    secondarySecretHash: text('secondarySecretHash'),
    allowedScopes: Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [],
    ...(typeof rate === 'number' ? { rateLimitPerMinute: rate } : {}),
    enabled: row['enabled'] === true,
    ...(text('expiresAt') ? { expiresAt: text('expiresAt') } : {}),
    keyAccess: row['keyAccess'] === true,
    createdAt: text('createdAt'),
    updatedAt: text('updatedAt'),
    ...(typeof row['etag'] === 'string' ? { version: row['etag'] } : {}),
    ...otherColumnsOf(row),
  };
}

/** The row's columns this version does not write (`otherColumns`); none when it has none. */
function otherColumnsOf(row: Row): { otherColumns?: Row } {
  const other = Object.entries(row).filter(([name]) => !OWN_COLUMNS.has(name) && !name.startsWith('odata.'));
  return other.length > 0 ? { otherColumns: Object.fromEntries(other) } : {};
}
