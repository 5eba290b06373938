import type { TableClient, TransactionAction } from '@azure/data-tables';

import { createTableOnce } from '../createOnce';
import type { Page, PageRequest } from '../listPages';
import { createLogger, type Logger } from '../logging';
import { statusOf } from '../networkErrors';
import { retryWhileStale } from '../optimisticChange';
import {
  EndpointChangedError,
  EndpointExistsError,
  EndpointNotFoundError,
  EndpointReadOnlyError,
} from '../rotation/errors';
import { readRowsPage } from '../tablePages';
import type { EndpointRegistry, VersionedEndpoint } from './EndpointRegistry';
import {
  claimOf,
  type EndpointEntity,
  endpointRowsFilter,
  parse,
  PARTITION,
  readClaim,
  readRow,
  readStored,
  releaseClaim,
  releaseClaimsOf,
  toEntity,
} from './endpointRows';
import { readEndpointsFile } from './endpointsFile';
import { type ManagedEndpoint, secretIdentity } from './ManagedEndpoint';
import { SecretOwnerScans } from './SecretOwnerScan';
import { type EndpointRules, isSecretName } from './validateEndpoint';

/** File entries cannot be replaced, so their version is never compared; it only fills the shape. */
const FILE_VERSION = 'file';

/** Options of {@link TableEndpointRegistry}. */
export interface TableEndpointRegistryOptions {
  table: TableClient;
  rules: EndpointRules;
  /** `ENDPOINTS_FILE`: JSON array of endpoints (or `{ "endpoints": [...] }`), merged in read-only. */
  endpointsFile?: string;
  /** @default fs.readFile as UTF-8 */
  readText?: (path: string) => Promise<string>;
  /** Time stamped on file entries without createdAt; the clock of the secret-name scans, too. */
  now: () => string;
  /** Where `list` and `listPage` report a row they skipped. @default the console */
  logger?: Logger;
}

/**
 * `EndpointRegistry` in Table storage (partition `endpoint`, row key = id), plus read-only entries from
 * `ENDPOINTS_FILE` for small setups. A file entry wins over a table row with the same id and cannot be
 * changed through the API. The file is read and validated once per process; a bad file is a
 * `ConfigError` naming each bad entry and field. A row's ETag is its version: creates are insert-only
 * and replaces carry `If-Match`, so a 409 or 412 from the table becomes the port's typed error. Each
 * write carries the endpoint's secret-name claim in the same transaction (see `endpointRows.ts`).
 */
export class TableEndpointRegistry implements EndpointRegistry {
  private readonly createTable: () => Promise<void>;
  private fileEntries?: Promise<Map<string, ManagedEndpoint>>;
  /** Walks of the table for a secret whose claim was missed (rows written before claims lack one). */
  private readonly scans = new SecretOwnerScans(() => this.nowMs());

  constructor(private readonly options: TableEndpointRegistryOptions) {
    this.createTable = createTableOnce(options.table);
  }

  async get(id: string): Promise<ManagedEndpoint | undefined> {
    return (await this.getVersioned(id))?.endpoint;
  }

  async getVersioned(id: string): Promise<VersionedEndpoint | undefined> {
    const declared = (await this.declared()).get(id);
    if (declared) return { endpoint: declared, version: FILE_VERSION };
    const row = await readRow(await this.table(), id);
    return row && { endpoint: parse(row), version: row.etag };
  }

  async list(): Promise<readonly ManagedEndpoint[]> {
    const declared = await this.declared();
    const table = await this.table();
    const all = new Map(declared);
    const rows = table.listEntities<EndpointEntity>({ queryOptions: { filter: endpointRowsFilter() } });
    for await (const row of rows) {
      if (all.has(row.rowKey)) continue;
      // One row edited by hand must not fail the listing, and with it the timer's whole round.
      const endpoint = this.readable(row, 'list');
      if (endpoint) all.set(row.rowKey, endpoint);
    }
    return [...all.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * At most `top` table rows after `after`, merged with the file entries in the key range those rows
   * cover: while rows are left in the table, a file entry past the last row read waits for the page
   * that reads the table that far, so no row sorts between two entries of different pages unseen.
   */
  async listPage({ top, after }: PageRequest): Promise<Page<ManagedEndpoint>> {
    const declared = await this.declared();
    const table = await this.table();
    const { rows, more } = await readRowsPage<EndpointEntity>(table, endpointRowsFilter(after), top);
    const readTo = more ? rows.at(-1)?.rowKey : undefined;
    const inRange = (id: string): boolean =>
      (after === undefined || id > after) && (readTo === undefined || id <= readTo);
    const found = [...declared.values()].filter((e) => inRange(e.id));
    for (const row of rows) {
      if (declared.has(row.rowKey)) continue;
      const endpoint = this.readable(row, 'listPage');
      if (endpoint) found.push(endpoint);
    }
    // Code point order, as Table storage orders keys (localeCompare would not match the next page's filter).
    const items = found.sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, top);
    if (found.length > top) return { items, after: items[items.length - 1]!.id };
    return readTo === undefined ? { items } : { items, after: readTo };
  }

  /**
   * Two point reads through the secret's claim (one per Key Vault event). A miss scans the table only
   * while rows written before claims existed may be left; a scan that finds none stops that for
   * five minutes (see `SecretOwnerScans`).
   */
  async findBySecretName(secretName: string): Promise<ManagedEndpoint | undefined> {
    // Key Vault events name any secret; one no endpoint can have (a/b, say) is no row key either, and
    // storage answers such a read with an error (Azurite: 500) that would be retried for a day.
    if (!isSecretName(secretName)) return undefined;
    const wanted = secretIdentity(secretName);
    const owns = (e: Pick<ManagedEndpoint, 'secretName'>): boolean => secretIdentity(e.secretName) === wanted;
    const declared = await this.declared();
    const declaredOwner = [...declared.values()].find(owns);
    if (declaredOwner) return declaredOwner;
    const table = await this.table();
    const claim = await readClaim(table, { secretName });
    const row = claim && !declared.has(claim.endpointId) && (await readRow(table, claim.endpointId));
    if (row) return parse(row);
    const ownerId = await this.scans.ownerOf(table, declared, wanted);
    // The walk read keys and secret names only; the owner is read whole, as it is now.
    const owner = ownerId === undefined ? undefined : await readRow(table, ownerId);
    return owner && owns(owner) ? parse(owner) : undefined;
  }

  async create(endpoint: ManagedEndpoint): Promise<void> {
    const table = await this.writable(endpoint.id);
    try {
      await table.submitTransaction([
        ['create', toEntity(endpoint)],
        ['create', claimOf(endpoint)],
      ]);
    } catch (error) {
      if (statusOf(error) !== 409) throw error;
      const [row, claim] = await Promise.all([readRow(table, endpoint.id), readClaim(table, endpoint)]);
      // The SDK's retry of a create that landed (its answer lost) finds the very rows it sent.
      if (row?.endpoint === JSON.stringify(endpoint) && claim?.endpointId === endpoint.id) return;
      throw row || !claim
        ? EndpointExistsError.idTaken(endpoint.id)
        : EndpointExistsError.secretTaken(endpoint.secretName, claim.endpointId);
    }
  }

  async replace(endpoint: ManagedEndpoint, version: string): Promise<void> {
    const table = await this.writable(endpoint.id);
    const stored = await readRow(table, endpoint.id);
    if (!stored) throw new EndpointNotFoundError(endpoint.id);
    if (stored.etag !== version) throw new EndpointChangedError(endpoint.id);
    // Merge: the row's two columns are rewritten whole, and a column another version wrote beside them
    // (a rolling deployment runs two at once) stays.
    const actions: TransactionAction[] = [['update', toEntity(endpoint), 'Merge', { etag: version }]];
    const claim = await readClaim(table, endpoint);
    if (claim && claim.endpointId !== endpoint.id)
      throw EndpointExistsError.secretTaken(endpoint.secretName, claim.endpointId);
    // Rows written before claims existed get theirs on their first replace.
    if (!claim) actions.push(['create', claimOf(endpoint)]);
    if (secretIdentity(stored.secretName) !== secretIdentity(endpoint.secretName))
      actions.push(...(await releaseClaim(table, endpoint.id, stored.secretName)));
    try {
      await table.submitTransaction(actions);
    } catch (error) {
      // 412 or 404: the row changed or went; 409: another endpoint claimed the secret meanwhile.
      // The caller re-reads and decides again.
      if ([404, 409, 412].includes(statusOf(error) ?? 0)) throw new EndpointChangedError(endpoint.id);
      throw error;
    }
  }

  async delete(id: string): Promise<void> {
    const table = await this.writable(id);
    await retryWhileStale(
      (error) => error instanceof EndpointChangedError,
      async () => {
        const stored = await readRow(table, id);
        if (!stored) return;
        // A row that cannot be read (DELETE is the way out of one) may have had its secretName column
        // edited too: its claim is found by owner instead, or it would keep the secret, and so the id,
        // from ever being registered again.
        const claims =
          'endpoint' in readStored(stored) && isSecretName(stored.secretName)
            ? await releaseClaim(table, id, stored.secretName)
            : await releaseClaimsOf(table, id);
        const actions: TransactionAction[] = [['delete', { partitionKey: PARTITION, rowKey: id }], ...claims];
        try {
          await table.submitTransaction(actions);
        } catch (error) {
          // 404: a rename moved the claim meanwhile, or our own delete landed and its answer was lost.
          if (statusOf(error) === 404) throw new EndpointChangedError(id);
          throw error;
        }
      },
    );
  }

  /** The row's endpoint; undefined, and the row named in a warning with what is wrong, when it cannot be read. */
  private readable(row: EndpointEntity, operation: string): ManagedEndpoint | undefined {
    const read = readStored(row);
    if ('endpoint' in read) return read.endpoint;
    (this.options.logger ?? createLogger('EndpointRegistry')).warn(
      `${operation} => row skipped, unreadable`,
      {
        endpointId: row.rowKey,
        why: read.unreadable,
      },
    );
    return undefined;
  }

  /** The table, once `id` is known not to be a file entry. */
  private async writable(id: string): Promise<TableClient> {
    if ((await this.declared()).has(id)) throw new EndpointReadOnlyError(id);
    return this.table();
  }

  private nowMs(): number {
    return Date.parse(this.options.now());
  }

  private declared(): Promise<Map<string, ManagedEndpoint>> {
    const { endpointsFile, rules, now, readText } = this.options;
    this.fileEntries ??= readEndpointsFile({
      path: endpointsFile,
      rules,
      now,
      ...(readText ? { readText } : {}),
    });
    return this.fileEntries;
  }

  private async table(): Promise<TableClient> {
    await this.createTable();
    return this.options.table;
  }
}
