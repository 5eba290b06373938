import type { TableClient, TransactionAction } from '@azure/data-tables';

import { createTableOnce } from '../createOnce';
import { forEachLimited } from '../forEachLimited';
import { MAX_PAGE_SIZE, type Page, type PageRequest } from '../listPages';
import { createLogger, type Logger } from '../logging';
import { statusOf } from '../networkErrors';
import { retryWhileStale } from '../optimisticChange';
import {
  EndpointChangedError,
  EndpointExistsError,
  EndpointNotFoundError,
  EndpointReadOnlyError,
} from '../rotation/errors';
import { sdk } from '../sdk';
import { readRowsPage } from '../tablePages';
import type { EndpointRegistry, VersionedEndpoint } from './EndpointRegistry';
import { readEndpointsFile } from './endpointsFile';
import { type ManagedEndpoint, secretIdentity } from './ManagedEndpoint';
import { type EndpointRules, isSecretName } from './validateEndpoint';

const PARTITION = 'endpoint';
/** File entries cannot be replaced, so their version is never compared; it only fills the shape. */
const FILE_VERSION = 'file';

/**
 * Row keys of secret-name claims: one row per Key Vault secret, holding the id of the endpoint that
 * owns it. An endpoint row and its claim are written in one transaction, so two endpoints can never
 * own one secret, however their writes interleave. `~` sorts after every character of an endpoint id,
 * so `RowKey lt '~'` lists endpoint rows only.
 */
const CLAIM_PREFIX = '~secret~';

// Types, not interfaces: transaction actions take rows as a `Record<string, unknown>`.
type SecretClaimEntity = {
  partitionKey: string;
  rowKey: string;
  endpointId: string;
};

type EndpointEntity = {
  partitionKey: string;
  rowKey: string;
  /** The whole endpoint as JSON: one column keeps the schema in one place (validateEndpoint). */
  endpoint: string;
  secretName: string;
};

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
 * write carries the endpoint's secret-name claim in the same transaction (see `CLAIM_PREFIX`).
 */
export class TableEndpointRegistry implements EndpointRegistry {
  private readonly createTable: () => Promise<void>;
  private fileEntries?: Promise<Map<string, ManagedEndpoint>>;
  /**
   * Until when (ms) a claim miss is the answer: a scan found every endpoint row with its claim, so an
   * event about a secret nobody registered (a vault shared with other apps) costs one point read instead
   * of a scan of every endpoint. This code writes no row without its claim, but a version from before
   * claims may still (a rolling deployment), so the scan's word holds for {@link EVERY_ROW_CLAIMED_MS}
   * from its start, not for the process.
   */
  private everyRowClaimedUntilMs = 0;
  /** The scan in flight: a burst of events on a cold process shares one walk of the table. */
  private pendingScan?: SecretScan;

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
    const rows = table.listEntities<EndpointEntity>({
      queryOptions: {
        filter: sdk.tables().odata`PartitionKey eq ${PARTITION} and RowKey lt ${CLAIM_PREFIX}`,
      },
    });
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
    const { odata } = sdk.tables();
    const filter =
      after === undefined
        ? odata`PartitionKey eq ${PARTITION} and RowKey lt ${CLAIM_PREFIX}`
        : odata`PartitionKey eq ${PARTITION} and RowKey gt ${after} and RowKey lt ${CLAIM_PREFIX}`;
    const { rows, more } = await readRowsPage<EndpointEntity>(table, filter, top);
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
   * {@link EVERY_ROW_CLAIMED_MS}.
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
    if (this.nowMs() < this.everyRowClaimedUntilMs) return undefined;
    const ownerId = await this.ownerByScan(table, declared, wanted);
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
        const actions: TransactionAction[] = [
          ['delete', { partitionKey: PARTITION, rowKey: id }],
          ...(await releaseClaim(table, id, stored.secretName)),
        ];
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

  /** The row's endpoint; undefined, and the row named in a warning, when it cannot be read. */
  private readable(row: EndpointEntity, operation: string): ManagedEndpoint | undefined {
    const endpoint = readable(row);
    if (!endpoint)
      (this.options.logger ?? createLogger('EndpointRegistry')).warn(
        `${operation} => row skipped, unreadable`,
        {
          endpointId: row.rowKey,
          why: 'its endpoint column is not the JSON of an endpoint',
        },
      );
    return endpoint;
  }

  /** The table, once `id` is known not to be a file entry. */
  private async writable(id: string): Promise<TableClient> {
    if ((await this.declared()).has(id)) throw new EndpointReadOnlyError(id);
    return this.table();
  }

  /**
   * The key of the first row (in key order) that owns the secret, by a walk of the table that misses
   * arriving together share: one that arrives after the walk has passed rows waits for it, and walks
   * again only if rows without claims were found (a row it passed may own its secret).
   */
  private async ownerByScan(
    table: TableClient,
    declared: ReadonlyMap<string, ManagedEndpoint>,
    wanted: string,
  ): Promise<string | undefined> {
    for (;;) {
      const pending = this.pendingScan;
      if (pending) {
        const asked = pending.ask(wanted);
        const everyRowClaimed = await pending.done;
        if (everyRowClaimed)
          this.everyRowClaimedUntilMs = Math.max(
            this.everyRowClaimedUntilMs,
            pending.startedAtMs + EVERY_ROW_CLAIMED_MS,
          );
        if (asked) return pending.ownerOf(wanted);
        // A claim miss while every row has its claim: no row owns the secret.
        if (everyRowClaimed) return undefined;
        continue;
      }
      const scan = new SecretScan(table, declared, this.nowMs());
      const clear = (): void => {
        if (this.pendingScan === scan) this.pendingScan = undefined;
      };
      void scan.done.then(clear, clear);
      this.pendingScan = scan;
    }
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

/** Rows a secret-name scan reads at once: their keys and secret names only, some 300 KB at most. */
const SCAN_PAGE = MAX_PAGE_SIZE;
/**
 * How long a scan's finding that every row has its claim answers claim misses. A version from before
 * claims, running beside this one in a rolling deployment, may register an endpoint without its claim
 * meanwhile: until the next scan its Key Vault events are answered notManaged here, and the admin API
 * here would let another endpoint register its secret.
 */
const EVERY_ROW_CLAIMED_MS = 5 * 60_000;
/** Claims a scan reads at once. */
const CLAIM_READS = 16;

type ScannedRow = Pick<EndpointEntity, 'rowKey' | 'secretName'>;

/**
 * One pass over the endpoint rows, a page of keys and secret names at a time, for the secrets whose
 * claims were missed: the first row owning each (a file entry wins over a row with its id, so such a
 * row owns nothing), and whether every row has its claim (only rows written before claims existed
 * lack one). It holds one page, never the table: once a row without its claim is seen, the claims are
 * not read further, and once every secret asked about has an owner too, no further page is.
 */
class SecretScan {
  /** Whether every row has its claim. */
  readonly done: Promise<boolean>;
  private readonly owners = new Map<string, string | undefined>();
  private started = false;

  constructor(
    private readonly table: TableClient,
    private readonly declared: ReadonlyMap<string, ManagedEndpoint>,
    /** A row written after this may have been passed. */
    readonly startedAtMs: number,
  ) {
    this.done = this.walk();
  }

  /** Looks for the owner of `identity` too; false once rows were passed (one of them may own it). */
  ask(identity: string): boolean {
    if (this.started) return false;
    if (!this.owners.has(identity)) this.owners.set(identity, undefined);
    return true;
  }

  ownerOf(identity: string): string | undefined {
    return this.owners.get(identity);
  }

  private async walk(): Promise<boolean> {
    const { odata } = sdk.tables();
    let everyRowClaimed = true;
    let after: string | undefined;
    do {
      const filter =
        after === undefined
          ? odata`PartitionKey eq ${PARTITION} and RowKey lt ${CLAIM_PREFIX}`
          : odata`PartitionKey eq ${PARTITION} and RowKey gt ${after} and RowKey lt ${CLAIM_PREFIX}`;
      const { rows, more } = await readRowsPage<ScannedRow>(this.table, filter, SCAN_PAGE, [
        'rowKey',
        'secretName',
      ]);
      this.started = true;
      for (const row of rows) {
        if (typeof row.secretName !== 'string' || this.declared.has(row.rowKey)) continue;
        const identity = secretIdentity(row.secretName);
        if (this.owners.has(identity) && this.owners.get(identity) === undefined)
          this.owners.set(identity, row.rowKey);
      }
      if (everyRowClaimed) everyRowClaimed = await everyClaimed(this.table, rows);
      const ownersLeft = [...this.owners.values()].includes(undefined);
      after = more && (everyRowClaimed || ownersLeft) ? rows.at(-1)?.rowKey : undefined;
    } while (after !== undefined);
    return everyRowClaimed;
  }
}

/** Whether each row's claim names it: one point read per row, a few at a time. */
async function everyClaimed(table: TableClient, rows: readonly ScannedRow[]): Promise<boolean> {
  let claimed = true;
  await forEachLimited(rows, CLAIM_READS, async (row) => {
    if (!claimed) return;
    const claim = typeof row.secretName === 'string' ? await readClaim(table, row) : undefined;
    if (claim?.endpointId !== row.rowKey) claimed = false;
  });
  return claimed;
}

function claimOf(endpoint: ManagedEndpoint): SecretClaimEntity {
  return { partitionKey: PARTITION, rowKey: claimKey(endpoint), endpointId: endpoint.id };
}

function claimKey(endpoint: Pick<ManagedEndpoint, 'secretName'>): string {
  return `${CLAIM_PREFIX}${secretIdentity(endpoint.secretName)}`;
}

async function readRow(
  table: TableClient,
  id: string,
): Promise<(EndpointEntity & { etag: string }) | undefined> {
  return readEntity<EndpointEntity>(table, id);
}

async function readClaim(
  table: TableClient,
  endpoint: Pick<ManagedEndpoint, 'secretName'>,
): Promise<SecretClaimEntity | undefined> {
  return readEntity<SecretClaimEntity>(table, claimKey(endpoint));
}

/** The action that frees `secretName` when endpoint `id` holds its claim; none otherwise. */
async function releaseClaim(
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

/** The row's endpoint; undefined when its column is not JSON of an object with the row's id. */
function readable(entity: EndpointEntity): ManagedEndpoint | undefined {
  try {
    const endpoint = parse(entity) as Partial<ManagedEndpoint> | null;
    return typeof endpoint === 'object' && endpoint !== null && endpoint.id === entity.rowKey
      ? (endpoint as ManagedEndpoint)
      : undefined;
  } catch {
    return undefined;
  }
}
