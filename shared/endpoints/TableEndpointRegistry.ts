import type { TableClient, TransactionAction } from '@azure/data-tables';

import { untilAborted } from '../clock';
import { createTableOnce } from '../createOnce';
import type { PageRequest } from '../listPages';
import { createLogger, type Logger } from '../logging';
import { statusOf } from '../networkErrors';
import { retryWhileStale } from '../optimisticChange';
import { EndpointChangedError, EndpointNotFoundError, EndpointReadOnlyError } from '../rotation/errors';
import { readRowsPage } from '../tablePages';
import type { Telemetry } from '../telemetry';
import { armClaims, ClaimScans, SECRET_CLAIMS } from './ClaimScan';
import { armClaimOnReplace, createActions, createConflict, secretClaimOnReplace } from './claimWrites';
import type {
  EndpointPage,
  EndpointRegistry,
  FileEntryClash,
  UnreadableRow,
  VersionedEndpoint,
} from './EndpointRegistry';
import {
  type EndpointEntity,
  endpointRowsFilter,
  PARTITION,
  readArmClaim,
  readRow,
  readSecretClaim,
  releaseClaimsOfRow,
  toEntity,
} from './endpointRows';
import { readEndpointsFile } from './endpointsFile';
import {
  type ArmCoordinates,
  armIdentity,
  type EndpointKind,
  type ManagedEndpoint,
  secretIdentity,
} from './ManagedEndpoint';
import { parseRow, readStored } from './storedEndpoint';
import { type EndpointRules, isSecretName } from './validateEndpoint';

/**
 * Which of two registrations found at one endpoint's coordinates owns them: the one in service before a
 * retired one (versions from before the coordinate claims let one endpoint be registered twice, and
 * reinstating the retired one would rotate the endpoint twice), else the one found first.
 */
function ownerOfCoordinates(
  first: ManagedEndpoint | undefined,
  second: ManagedEndpoint | undefined,
): ManagedEndpoint | undefined {
  if (!first || !second) return first ?? second;
  return first.retiredAt && !second.retiredAt ? second : first;
}

/** The endpoints of `rows`, and the rows that cannot be read, each with what is wrong with it. */
function readRows(rows: readonly EndpointEntity[]): {
  endpoints: ManagedEndpoint[];
  skipped: UnreadableRow[];
} {
  const endpoints: ManagedEndpoint[] = [];
  const skipped: UnreadableRow[] = [];
  for (const row of rows) {
    const read = readStored(row);
    if ('endpoint' in read) endpoints.push(read.endpoint);
    else skipped.push({ id: row.rowKey, why: read.unreadable });
  }
  return { endpoints, skipped };
}

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
  /** Time stamped on file entries without createdAt; the clock of the claim scans, too. */
  now: () => string;
  /** Where rows skipped as unreadable and endpoints registered twice are warned of. @default the console */
  logger?: Logger;
  /** Where a walk counts endpoints registered twice (`EndpointsRegisteredTwice`). @default none */
  telemetry?: Telemetry;
}

/**
 * `EndpointRegistry` in Table storage (partition `endpoint`, row key = id), plus read-only entries from
 * `ENDPOINTS_FILE` for small setups. A file entry wins over a table row with the same id and cannot be
 * changed through the API. The file is read and validated once per process; a bad file is a
 * `ConfigError` naming each bad entry and field. A row's ETag is its version: creates are insert-only
 * and replaces carry `If-Match`, so a 409 or 412 from the table becomes the port's typed error. Each
 * write carries the endpoint's secret-name and ARM-coordinate claims in the same transaction (the claim
 * rows: `endpointRows.ts`; which a create or replace writes: `claimWrites.ts`).
 */
export class TableEndpointRegistry implements EndpointRegistry {
  private readonly createTable: () => Promise<void>;
  private readonly logger: Logger;
  private fileEntries?: Promise<Map<string, ManagedEndpoint>>;
  /** File entry ids by `armIdentity` and by `secretIdentity`, for {@link fileEntryClash}: built once, as the file is read once. */
  private fileEntryPlaces?: Promise<{ byArm: Map<string, string>; bySecret: Map<string, string> }>;
  /** Rows found sharing a file entry's secret, each warned of once per process (see {@link fileEntryClash}). */
  private readonly secretSharersWarned = new Set<string>();
  /** Walks of the table for a secret whose claim was missed (rows written before claims lack one). */
  private readonly secretScans = new ClaimScans(SECRET_CLAIMS, () => this.nowMs());
  /** Walks of the table for ARM coordinates whose claim was missed (rows written before those claims). */
  private readonly armScans = new ClaimScans(
    armClaims(
      (row) => this.readable(row, 'findByArm'),
      (pairs) => this.registeredTwice(pairs),
    ),
    () => this.nowMs(),
  );

  constructor(private readonly options: TableEndpointRegistryOptions) {
    this.createTable = createTableOnce(options.table);
    this.logger = options.logger ?? createLogger('EndpointRegistry');
  }

  async get(id: string, abortSignal?: AbortSignal): Promise<ManagedEndpoint | undefined> {
    return (await this.getVersioned(id, abortSignal))?.endpoint;
  }

  /** @param abortSignal - ends the row's read; the table's creation, shared by every caller, goes on */
  async getVersioned(id: string, abortSignal?: AbortSignal): Promise<VersionedEndpoint | undefined> {
    const declared = (await this.declared()).get(id);
    if (declared) return { endpoint: declared, version: FILE_VERSION };
    const row = await readRow(await this.table(), id, abortSignal);
    return row && { endpoint: parseRow(row), version: row.etag };
  }

  /**
   * At most `top` table rows after `after`, merged with the file entries in the key range those rows
   * cover: while rows are left in the table, a file entry past the last row read waits for the page
   * that reads the table that far, so no row sorts between two entries of different pages unseen.
   * @param abortSignal - ends the page's requests; the table's creation, shared by every caller, goes on
   */
  async listPage({ top, after }: PageRequest, abortSignal?: AbortSignal): Promise<EndpointPage> {
    const declared = await this.declared();
    const table = await this.table();
    const filter = endpointRowsFilter(after);
    const { rows, more } = await readRowsPage<EndpointEntity>(table, filter, top, undefined, abortSignal);
    const readTo = more ? rows.at(-1)?.rowKey : undefined;
    const inRange = (id: string): boolean =>
      (after === undefined || id > after) && (readTo === undefined || id <= readTo);
    const fileEntries = [...declared.values()].filter((e) => inRange(e.id));
    const { endpoints, skipped } = readRows(rows.filter((row) => !declared.has(row.rowKey)));
    const found = [...fileEntries, ...endpoints];
    // Code point order, as Table storage orders keys (localeCompare would not match the next page's filter).
    const items = found.sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, top);
    const end = found.length > top ? items[items.length - 1]!.id : readTo;
    const unreadable = this.unreadableUpTo(skipped, end);
    const page: EndpointPage = unreadable.length > 0 ? { items, unreadable } : { items };
    return end === undefined ? page : { ...page, after: end };
  }

  /**
   * The rows `listPage` skipped as unreadable up to the page's `end` (all, when it has none), each warned
   * about. A page cut short by file entries reads the rows past its end again on the next page, which
   * would name them a second time.
   */
  private unreadableUpTo(skipped: readonly UnreadableRow[], end: string | undefined): UnreadableRow[] {
    const named = skipped.filter((row) => end === undefined || row.id <= end);
    for (const row of named) this.warnSkipped(row.id, row.why, 'listPage');
    return named;
  }

  /**
   * Two point reads through the secret's claim (one per Key Vault event). A miss scans the table only
   * while rows written before claims existed may be left; the scan writes the claims of those it passes,
   * and one that finds none left stops that for five minutes (see `ClaimScans`).
   * @param abortSignal - ends the point reads, and the wait for a walk; the walk, shared by every miss, and the
   *   table's creation go on
   */
  async findBySecretName(
    secretName: string,
    abortSignal?: AbortSignal,
  ): Promise<ManagedEndpoint | undefined> {
    // Key Vault events name any secret; one no endpoint can have (a/b, say) is no row key either, and
    // storage answers such a read with an error (Azurite: 500) that would be retried for a day.
    if (!isSecretName(secretName)) return undefined;
    const wanted = secretIdentity(secretName);
    const owns = (e: Pick<ManagedEndpoint, 'secretName'>): boolean => secretIdentity(e.secretName) === wanted;
    const declared = await this.declared();
    const declaredOwner = [...declared.values()].find(owns);
    if (declaredOwner) return declaredOwner;
    const table = await this.table();
    const claim = await readSecretClaim(table, { secretName }, abortSignal);
    const row =
      claim && !declared.has(claim.endpointId) && (await readRow(table, claim.endpointId, abortSignal));
    // A claim naming a row gone or renamed away from the secret is left over (see `takeSecretClaim`): as
    // none. A row that cannot be read throws, its secret unknown.
    const holder = row ? parseRow(row) : undefined;
    if (holder && owns(holder)) return holder;
    const ownerId = await untilAborted(this.secretScans.ownerOf(table, declared, wanted), abortSignal);
    // The walk read keys and secret names only; the owner is read whole, as it is now.
    const owner = ownerId === undefined ? undefined : await readRow(table, ownerId, abortSignal);
    return owner && owns(owner) ? parseRow(owner) : undefined;
  }

  /**
   * Two point reads through the coordinates' claim (one per ARM event about an endpoint). A miss, or a
   * retired registration found, scans the table only while rows written before these claims may be left
   * (one of them may be registered there, or in service there: see `ClaimScans`). Where several
   * registrations are found, {@link ownerOfCoordinates} picks one; file entries are looked at first.
   * @param abortSignal - ends the point reads, and the wait for a walk; the walk, shared by every miss, and the
   *   table's creation go on
   */
  async findByArm(
    kind: EndpointKind,
    arm: ArmCoordinates,
    abortSignal?: AbortSignal,
  ): Promise<ManagedEndpoint | undefined> {
    const wanted = armIdentity({ kind, arm });
    const at = (e: ManagedEndpoint | undefined): ManagedEndpoint | undefined =>
      e && armIdentity(e) === wanted ? e : undefined;
    const declared = await this.declared();
    const fromFile = [...declared.values()].map(at).reduce(ownerOfCoordinates, undefined);
    if (fromFile) return fromFile;
    const table = await this.table();
    const claim = await readArmClaim(table, wanted, abortSignal);
    const row =
      claim && !declared.has(claim.endpointId) && (await readRow(table, claim.endpointId, abortSignal));
    // A point read, as findBySecretName's: a claim naming a row that cannot be read throws (its
    // coordinates may still be these); the walk below skips such rows, as the listings do.
    const holder = at(row ? parseRow(row) : undefined);
    if (holder && !holder.retiredAt) return holder;
    const ownerId = await untilAborted(this.armScans.ownerOf(table, declared, wanted), abortSignal);
    // The walk read the endpoint as it was; it is read again, as it is now.
    const ownerRow =
      ownerId === undefined || ownerId === holder?.id
        ? undefined
        : await readRow(table, ownerId, abortSignal);
    const walked = ownerRow ? at(this.readable(ownerRow, 'findByArm')) : undefined;
    return ownerOfCoordinates(holder, walked);
  }

  async fileEntryClash(
    endpoint: Pick<ManagedEndpoint, 'id' | 'kind' | 'arm' | 'secretName'>,
  ): Promise<FileEntryClash | undefined> {
    this.fileEntryPlaces ??= this.declared().then((declared) => {
      const entries = [...declared.values()];
      return {
        byArm: new Map(entries.map((e) => [armIdentity(e), e.id])),
        bySecret: new Map(entries.map((e) => [secretIdentity(e.secretName), e.id])),
      };
    });
    const { byArm, bySecret } = await this.fileEntryPlaces;
    const atEndpoint = byArm.get(armIdentity(endpoint));
    const withSecret = bySecret.get(secretIdentity(endpoint.secretName));
    if (atEndpoint !== undefined && atEndpoint !== endpoint.id) {
      const secretOf = withSecret !== undefined && withSecret !== atEndpoint ? { secretOf: withSecret } : {};
      return { entry: atEndpoint, shares: 'endpoint', ...secretOf };
    }
    if (withSecret === undefined || withSecret === endpoint.id) return undefined;
    this.warnSecretShared(endpoint.id, withSecret);
    return { entry: withSecret, shares: 'secret' };
  }

  async declaredInFile(id: string): Promise<boolean> {
    return (await this.declared()).has(id);
  }

  async create(endpoint: ManagedEndpoint): Promise<void> {
    const table = await this.writable(endpoint.id);
    // A left-over coordinate claim taken over (see `takeArmClaim`) that another write took meanwhile: judged again.
    await retryWhileStale(
      (error) => error instanceof EndpointChangedError,
      async () => {
        const actions = await createActions(table, endpoint);
        try {
          await table.submitTransaction(actions);
        } catch (error) {
          // 412 (404: gone): a left-over claim being taken over was taken or freed meanwhile.
          if ([404, 412].includes(statusOf(error) ?? 0)) throw new EndpointChangedError(endpoint.id);
          if (statusOf(error) !== 409) throw error;
          const conflict = await createConflict(table, endpoint);
          if (conflict) throw conflict;
        }
      },
    );
  }

  async replace(endpoint: ManagedEndpoint, version: string): Promise<void> {
    const table = await this.writable(endpoint.id);
    const stored = await readRow(table, endpoint.id);
    if (!stored) throw new EndpointNotFoundError(endpoint.id);
    if (stored.etag !== version) throw new EndpointChangedError(endpoint.id);
    const actions: TransactionAction[] = [
      // Merge: the row's two columns are rewritten whole, and a column another version wrote beside them
      // (a rolling deployment runs two at once) stays.
      ['update', toEntity(endpoint), 'Merge', { etag: version }],
      ...(await secretClaimOnReplace(table, endpoint, stored)),
      ...(await armClaimOnReplace(table, endpoint, stored)),
    ];
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
          ...(await releaseClaimsOfRow(table, stored)),
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

  /** The row's endpoint; undefined, and the row named in a warning with what is wrong, when it cannot be read. */
  private readable(
    row: Pick<EndpointEntity, 'rowKey' | 'endpoint'>,
    operation: string,
  ): ManagedEndpoint | undefined {
    const read = readStored(row);
    if ('endpoint' in read) return read.endpoint;
    this.warnSkipped(row.rowKey, read.unreadable, operation);
    return undefined;
  }

  /** Names a row a walk skipped, with what is wrong with it (field names, never the row's content). */
  private warnSkipped(endpointId: string, why: string, operation: string): void {
    this.logger.warn(`${operation} => row skipped, unreadable`, { endpointId, why });
  }

  /**
   * Reports the rows a walk found at one Azure ML endpoint: registrations made twice by a version from
   * before the coordinate claims, which rotate its keys against each other (each may regenerate the key the
   * other just stored), and whose second, never claimed, keeps every lookup of an endpoint nobody
   * registered walking the table. Only a person can tell which to keep, so each walk names them again.
   */
  private registeredTwice(pairs: readonly (readonly [string, string])[]): void {
    for (const [first, second] of pairs)
      this.logger.warn('findByArm => one Azure ML endpoint registered twice, DELETE one of them', {
        endpointId: second,
        alsoRegisteredAs: first,
      });
    this.options.telemetry?.trackMetric('EndpointsRegisteredTwice', pairs.length);
  }

  /**
   * Names, once per process, a row holding the Key Vault secret of a file entry: no walk pairs such rows (the
   * secret scan reads a secret's owner, not its sharers), and Key Vault events of the secret go to the entry
   * without a word. Once, not each time asked: the timer asks of every row each tick, and its summary counts
   * them (`declaredInFile`). Named by the two ids, as the timer and the rotator name the rows at a file entry's endpoint.
   */
  private warnSecretShared(endpointId: string, entry: string): void {
    if (this.secretSharersWarned.has(endpointId)) return;
    this.secretSharersWarned.add(endpointId);
    this.logger.warn(
      'fileEntryClash => Key Vault secret declared in ENDPOINTS_FILE too, row not rotated, PATCH its secretName or DELETE it',
      { endpointId, alsoRegisteredAs: entry },
    );
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
