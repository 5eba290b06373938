import type { TableClient, TableEntity, TableEntityResult } from '@azure/data-tables';

import { createTableOnce } from '../createOnce';
import { ConflictError, DependencyUnavailableError, NotFoundError } from '../errors';
import type { PageRequest } from '../listPages';
import { createLogger, type Logger } from '../logging';
import { statusOf } from '../networkErrors';
import { sdk } from '../sdk';
import { readRowsPage } from '../tablePages';
import type {
  BrokerClientRecord,
  BrokerClientRegistry,
  ClientPage,
  UnreadableClientRow,
} from './BrokerClient';
import { readClientRow } from './clientRows';
import { ClientChangedError, ClientRecordUnreadableError } from './errors';

/** Options of {@link TableBrokerClientRegistry}. */
export interface TableBrokerClientRegistryOptions {
  /** The clients table (`config.tables.clients`). */
  table: TableClient;
  /** Where rows skipped as unreadable are named. @default createLogger('ClientRegistry') */
  logger?: Logger;
}

/** Every client row lives in one partition, which the admin API lists a page at a time. */
const PARTITION = 'client';

type Row = Record<string, unknown>;

/**
 * Broker clients in Table storage: PartitionKey `client`, RowKey = client id; scopes as a JSON array;
 * the two secret HMACs as base64url strings (never the secrets); the row's ETag is the record's
 * `version`, and updates are conditional on it. Storage errors other than the expected 404/409/412
 * become `DependencyUnavailableError('clientRegistry')`. A row that cannot be read (`readClientRow`) is
 * `ClientRecordUnreadableError` to `get` and skipped, with a warning, by the listings.
 */
export class TableBrokerClientRegistry implements BrokerClientRegistry {
  private readonly createTable: () => Promise<void>;
  private readonly logger: Logger;

  constructor(private readonly options: TableBrokerClientRegistryOptions) {
    this.createTable = createTableOnce(options.table);
    this.logger = options.logger ?? createLogger('ClientRegistry');
  }

  async get(id: string, abortSignal?: AbortSignal): Promise<BrokerClientRecord | undefined> {
    // The table's creation is shared by every caller of this process, so no one caller's signal ends it.
    await this.ensureTable();
    let row: Row;
    try {
      row = await this.options.table.getEntity<Row>(PARTITION, id, { abortSignal });
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw unavailable(error);
    }
    const read = readClientRow(row);
    if ('unreadable' in read) throw new ClientRecordUnreadableError(id, read.unreadable);
    return read.record;
  }

  async listPage({ top, after }: PageRequest): Promise<ClientPage> {
    await this.ensureTable();
    const { odata } = sdk.tables();
    let rows: readonly TableEntityResult<Row>[];
    let more: boolean;
    const filter =
      after === undefined
        ? odata`PartitionKey eq ${PARTITION}`
        : odata`PartitionKey eq ${PARTITION} and RowKey gt ${after}`;
    try {
      ({ rows, more } = await readRowsPage<Row>(this.options.table, filter, top));
    } catch (error) {
      throw unavailable(error);
    }
    const items: BrokerClientRecord[] = [];
    const unreadable: UnreadableClientRow[] = [];
    for (const row of rows) {
      const read = readClientRow(row);
      if ('record' in read) items.push(read.record);
      else {
        const id = row.rowKey ?? '';
        this.warnSkipped(id, read.unreadable);
        unreadable.push({ id, fields: read.unreadable });
      }
    }
    const page: ClientPage = unreadable.length > 0 ? { items, unreadable } : { items };
    // The next page starts after the last row read, readable or not: a page of bad rows only is not the last.
    const last = rows.at(-1)?.rowKey;
    return more && last !== undefined ? { ...page, after: last } : page;
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

  /** Names a row a listing skipped, with the columns at fault (by name, never with what they hold). */
  private warnSkipped(clientId: string, fields: readonly string[]): void {
    this.logger.warn('listPage => row skipped, unreadable', { clientId, fields: fields.join(',') });
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
