import { readFile } from 'node:fs/promises';

import type { TableClient } from '@azure/data-tables';

import { ConfigError, ValidationError } from '../errors';
import { EndpointReadOnlyError } from '../rotation/errors';
import { sdk } from '../sdk';
import { createTableOnce } from '../tableOnce';
import type { EndpointRegistry } from './EndpointRegistry';
import type { ManagedEndpoint } from './ManagedEndpoint';
import { type EndpointRules, validateEndpoint } from './validateEndpoint';

const PARTITION = 'endpoint';

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
 * `ConfigError` naming each bad entry and field.
 */
export class TableEndpointRegistry implements EndpointRegistry {
  private readonly createTable: () => Promise<void>;
  private fileEntries?: Promise<Map<string, ManagedEndpoint>>;

  constructor(private readonly options: TableEndpointRegistryOptions) {
    this.createTable = createTableOnce(options.table);
  }

  async get(id: string): Promise<ManagedEndpoint | undefined> {
    const declared = (await this.declared()).get(id);
    if (declared) return declared;
    const table = await this.table();
    try {
      return parse(await table.getEntity<EndpointEntity>(PARTITION, id));
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
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

  async put(endpoint: ManagedEndpoint): Promise<void> {
    if ((await this.declared()).has(endpoint.id)) throw new EndpointReadOnlyError(endpoint.id);
    const table = await this.table();
    const entity: EndpointEntity = {
      partitionKey: PARTITION,
      rowKey: endpoint.id,
      endpoint: JSON.stringify(endpoint),
      secretName: endpoint.secretName,
    };
    await table.upsertEntity(entity, 'Replace');
  }

  async delete(id: string): Promise<void> {
    if ((await this.declared()).has(id)) throw new EndpointReadOnlyError(id);
    const table = await this.table();
    try {
      await table.deleteEntity(PARTITION, id);
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
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

function parse(entity: EndpointEntity): ManagedEndpoint {
  return JSON.parse(entity.endpoint) as ManagedEndpoint;
}
