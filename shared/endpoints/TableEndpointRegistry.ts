import { readFile } from 'node:fs/promises';

import type { TableClient } from '@azure/data-tables';

import { ConfigError, ValidationError } from '../errors';
import { statusOf } from '../networkErrors';
import {
  EndpointChangedError,
  EndpointExistsError,
  EndpointNotFoundError,
  EndpointReadOnlyError,
} from '../rotation/errors';
import { sdk } from '../sdk';
import { createTableOnce } from '../tableOnce';
import type { EndpointRegistry, VersionedEndpoint } from './EndpointRegistry';
import type { ManagedEndpoint } from './ManagedEndpoint';
import { type EndpointRules, validateEndpoint } from './validateEndpoint';

const PARTITION = 'endpoint';
/** File entries cannot be replaced, so their version is never compared; it only fills the shape. */
const FILE_VERSION = 'file';

interface EndpointEntity {
  partitionKey: string;
  rowKey: string;
  /** The whole endpoint as JSON: one column keeps the schema in one place (validateEndpoint). */
  endpoint: string;
  secretName: string;
}

/** Options of {@link TableEndpointRegistry}. */
export interface TableEndpointRegistryOptions {
  table: TableClient;
  rules: EndpointRules;
  /** `ENDPOINTS_FILE`: JSON array of endpoints (or `{ "endpoints": [...] }`), merged in read-only. */
  endpointsFile?: string;
  /** @default fs.readFile as UTF-8 */
  readText?: (path: string) => Promise<string>;
  /** Time stamped on file entries without createdAt. */
  now: () => string;
}

/**
 * `EndpointRegistry` in Table storage (partition `endpoint`, row key = id), plus read-only entries from
 * `ENDPOINTS_FILE` for small setups. A file entry wins over a table row with the same id and cannot be
 * changed through the API. The file is read and validated once per process; a bad file is a
 * `ConfigError` naming each bad entry and field. A row's ETag is its version: creates are insert-only
 * and replaces carry `If-Match`, so a 409 or 412 from the table becomes the port's typed error.
 */
export class TableEndpointRegistry implements EndpointRegistry {
  private readonly createTable: () => Promise<void>;
  private fileEntries?: Promise<Map<string, ManagedEndpoint>>;

  constructor(private readonly options: TableEndpointRegistryOptions) {
    this.createTable = createTableOnce(options.table);
  }

  async get(id: string): Promise<ManagedEndpoint | undefined> {
    return (await this.getVersioned(id))?.endpoint;
  }

  async getVersioned(id: string): Promise<VersionedEndpoint | undefined> {
    const declared = (await this.declared()).get(id);
    if (declared) return { endpoint: declared, version: FILE_VERSION };
    const table = await this.table();
    try {
      const row = await table.getEntity<EndpointEntity>(PARTITION, id);
      return { endpoint: parse(row), version: row.etag };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  async list(): Promise<readonly ManagedEndpoint[]> {
    const declared = await this.declared();
    const table = await this.table();
    const all = new Map(declared);
    const rows = table.listEntities<EndpointEntity>({
      queryOptions: { filter: sdk.tables().odata`PartitionKey eq ${PARTITION}` },
    });
    for await (const row of rows) if (!all.has(row.rowKey)) all.set(row.rowKey, parse(row));
    return [...all.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  async findBySecretName(secretName: string): Promise<ManagedEndpoint | undefined> {
    return (await this.list()).find((e) => e.secretName === secretName);
  }

  async create(endpoint: ManagedEndpoint): Promise<void> {
    const table = await this.writable(endpoint.id);
    try {
      await table.createEntity(toEntity(endpoint));
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      // The SDK's retry of a create that landed (its answer lost) finds the very row it sent.
      const stored = await table.getEntity<EndpointEntity>(PARTITION, endpoint.id);
      if (stored.endpoint !== JSON.stringify(endpoint))
        throw new EndpointExistsError(`Endpoint ${endpoint.id} is already registered.`);
    }
  }

  async replace(endpoint: ManagedEndpoint, version: string): Promise<void> {
    const table = await this.writable(endpoint.id);
    try {
      await table.updateEntity(toEntity(endpoint), 'Replace', { etag: version });
    } catch (error) {
      if (statusOf(error) === 404) throw new EndpointNotFoundError(endpoint.id);
      if (statusOf(error) === 412) throw new EndpointChangedError(endpoint.id);
      throw error;
    }
  }

  async delete(id: string): Promise<void> {
    const table = await this.writable(id);
    try {
      await table.deleteEntity(PARTITION, id);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
    }
  }

  /** The table, once `id` is known not to be a file entry. */
  private async writable(id: string): Promise<TableClient> {
    if ((await this.declared()).has(id)) throw new EndpointReadOnlyError(id);
    return this.table();
  }

  private declared(): Promise<Map<string, ManagedEndpoint>> {
    this.fileEntries ??= this.loadFile();
    return this.fileEntries;
  }

  private async loadFile(): Promise<Map<string, ManagedEndpoint>> {
    const { endpointsFile, rules, now } = this.options;
    const entries = new Map<string, ManagedEndpoint>();
    if (!endpointsFile) return entries;
    const read = this.options.readText ?? ((path: string) => readFile(path, 'utf8'));
    let raw: unknown;
    try {
      raw = JSON.parse(await read(endpointsFile));
    } catch (error) {
      throw new ConfigError([
        {
          field: 'ENDPOINTS_FILE',
          message: `cannot be read as JSON (${error instanceof Error ? error.name : 'error'})`,
        },
      ]);
    }
    const list = Array.isArray(raw) ? raw : (raw as { endpoints?: unknown } | null)?.endpoints;
    if (!Array.isArray(list))
      throw new ConfigError([
        { field: 'ENDPOINTS_FILE', message: 'must hold an array of endpoints or { "endpoints": [...] }' },
      ]);
    const issues = list.flatMap((item, index) => {
      try {
        const endpoint = validateEndpoint(item, rules, now());
        if (entries.has(endpoint.id))
          return [{ field: `ENDPOINTS_FILE[${index}].id`, message: 'is declared twice' }];
        entries.set(endpoint.id, endpoint);
        return [];
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        return error.issues.map((i) => ({
          field: `ENDPOINTS_FILE[${index}].${i.field}`,
          message: i.message,
        }));
      }
    });
    if (issues.length > 0) throw new ConfigError(issues);
    return entries;
  }

  private async table(): Promise<TableClient> {
    await this.createTable();
    return this.options.table;
  }
}

function toEntity(endpoint: ManagedEndpoint): EndpointEntity {
  return {
    partitionKey: PARTITION,
    rowKey: endpoint.id,
    endpoint: JSON.stringify(endpoint),
    secretName: endpoint.secretName,
  };
}

function parse(entity: EndpointEntity): ManagedEndpoint {
  return JSON.parse(entity.endpoint) as ManagedEndpoint;
}
