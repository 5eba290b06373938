import type { TableClient, TransactionAction } from '@azure/data-tables';

import { forEachLimited } from '../forEachLimited';
import { MAX_PAGE_SIZE } from '../listPages';
import { statusOf } from '../networkErrors';
import { readRowsPage } from '../tablePages';
import {
  armClaimAt,
  type ClaimEntity,
  type ClaimTaking,
  type EndpointEntity,
  endpointRowsFilter,
  readArmClaim,
  readSecretClaimAt,
  secretClaimAt,
  takeArmClaim,
  takeSecretClaim,
} from './endpointRows';
import { armIdentity, type ManagedEndpoint, secretIdentity } from './ManagedEndpoint';
import { isSecretName } from './validateEndpoint';

/**
 * How long a scan's finding that every row has its claim answers claim misses, from the scan's start. This
 * code writes no row without its claims, but a version from before them, running beside this one in a
 * rolling deployment, may register an endpoint without its claim meanwhile: until the next scan its events
 * are answered as if nobody registered it here, and the admin API here would let another endpoint register
 * what it claims. So the finding holds for a while, not for the process.
 */
const EVERY_ROW_CLAIMED_MS = 5 * 60_000;
/** Claims a scan reads at once. */
const CLAIM_READS = 16;

/** What a row claims, as a scan reads it. */
interface RowClaim {
  /** The identity the row claims (a secret's, an endpoint's ARM coordinates'). */
  readonly identity: string;
  /** Whether the row ends the search for its identity: a later row may be a better owner otherwise. */
  readonly settles: boolean;
}

/** One kind of claim row, as a scan looks for its owners. */
export interface ClaimKind<Row extends Pick<EndpointEntity, 'rowKey'>> {
  /** The columns a scan reads of each endpoint row, `rowKey` among them. */
  readonly columns: readonly string[];
  /** Rows a scan reads at once. */
  readonly pageSize: number;
  /** What the row claims; undefined when it claims nothing (a row that cannot be read). */
  claimOf(row: Row): RowClaim | undefined;
  /** The identity an `ENDPOINTS_FILE` entry claims, as a row of it would. */
  identityOf(entry: ManagedEndpoint): string;
  /** The id the claim of `identity` names; undefined when there is none (one point read). */
  holderOf(table: TableClient, identity: string): Promise<string | undefined>;
  /** The claim row of `identity` naming row `rowKey`, which a scan writes for a row that has none. */
  claimAt(identity: string, rowKey: string): ClaimEntity;
  /**
   * The actions that take over for `row` the claim of what it claims, when that claim is left over (it
   * names a row gone or no longer holding it); undefined when its holder still holds it (see
   * `takeSecretClaim`, `takeArmClaim`: two point reads).
   */
  takeOver(table: TableClient, row: Row): Promise<TransactionAction[] | undefined>;
  /**
   * Told, once at the end of each walk that passed any, of the rows found claiming what a row before them
   * in the walk or an `ENDPOINTS_FILE` entry claims (each with that first row or entry: `[first, second]`).
   * Without it, a walk does not look.
   */
  registeredTwice?(pairs: readonly (readonly [string, string])[]): void;
}

type SecretRow = Pick<EndpointEntity, 'rowKey' | 'secretName'>;

/**
 * Secret-name claims: rows read as keys and secret names only, some 300 KB a page at most, and the first
 * row owning a secret is its owner. A `secretName` column that names no secret (a hand edit) claims
 * nothing: storage refuses some such names as row keys (Azurite answers 500), so neither its claim is
 * read nor one written, and no lookup asks for such a name.
 */
export const SECRET_CLAIMS: ClaimKind<SecretRow> = {
  columns: ['rowKey', 'secretName'],
  pageSize: MAX_PAGE_SIZE,
  claimOf: (row) =>
    isSecretName(row.secretName) ? { identity: secretIdentity(row.secretName), settles: true } : undefined,
  identityOf: (entry) => secretIdentity(entry.secretName),
  holderOf: async (table, identity) => (await readSecretClaimAt(table, identity))?.endpointId,
  claimAt: secretClaimAt,
  takeOver: async (table, row) =>
    actionsOf(await takeSecretClaim(table, { id: row.rowKey, secretName: row.secretName })),
};

/** The actions of a claim's taking; undefined when another holds it. */
function actionsOf(taking: ClaimTaking): TransactionAction[] | undefined {
  return 'actions' in taking ? taking.actions : undefined;
}

type ArmRow = Pick<EndpointEntity, 'rowKey' | 'endpoint'>;

/**
 * ARM-coordinate claims: the coordinates are inside the endpoint's JSON, so rows are read whole, 100 a
 * page (an endpoint is 32 KB at most, about 1 KB as usually registered). A registration in service owns
 * the coordinates before a retired one (versions from before these claims let one endpoint be
 * registered twice): reinstating the retired one would rotate the endpoint twice. `read` is the
 * registry's reading of a row (`readStored`), undefined for one that cannot be read: such a row claims
 * nothing and gets no claim written, as its coordinates cannot be trusted, and is skipped as the
 * listings skip it (with the warning `read` logs).
 */
export const armClaims = (
  read: (row: ArmRow) => ManagedEndpoint | undefined,
  registeredTwice: ClaimKind<ArmRow>['registeredTwice'],
): ClaimKind<ArmRow> => ({
  columns: ['rowKey', 'endpoint'],
  pageSize: 100,
  claimOf: (row) => {
    const endpoint = read(row);
    return endpoint && { identity: armIdentity(endpoint), settles: !endpoint.retiredAt };
  },
  identityOf: armIdentity,
  holderOf: async (table, identity) => (await readArmClaim(table, identity))?.endpointId,
  claimAt: armClaimAt,
  // Only rows `claimOf` read are taken for, so `read` warns of none here. A claim naming a row that cannot
  // be read is held (its coordinates cannot be trusted either way), as it is against a registration.
  takeOver: async (table, row) => {
    const endpoint = read(row);
    return endpoint && actionsOf(await takeArmClaim(table, endpoint));
  },
  // Versions from before these claims let one endpoint be registered twice; the second of such a pair
  // never gets the claim, so every walk passes it (and misses keep walking) until a person deletes one. A
  // row registered before an ENDPOINTS_FILE entry of its endpoint was declared pairs with that entry.
  registeredTwice,
});

/**
 * Finds the owner of what a claim row missed, by walking the endpoint rows: only rows written before that
 * kind of claim existed lack one, and such a row may own it. Misses arriving together share one walk, and
 * a walk that finds every row with its claim answers misses without a walk for
 * {@link EVERY_ROW_CLAIMED_MS} from its start.
 */
export class ClaimScans<Row extends Pick<EndpointEntity, 'rowKey'>> {
  /**
   * Until when (ms) a claim miss is the answer: a scan found every endpoint row with its claim, so an
   * event about something nobody registered (a secret of a vault shared with other apps, an endpoint
   * nobody tagged) costs one point read instead of a scan of every endpoint (see
   * {@link EVERY_ROW_CLAIMED_MS} for how long).
   */
  private everyRowClaimedUntilMs = 0;
  /**
   * Until when (ms) a claim miss answered by a scan's "every row claimed" reads the claim again: that scan
   * wrote claims, maybe the one the miss read before it was written (a lookup meeting the walk), and its
   * answer would otherwise be "no row owns it" for a row the walk itself just claimed.
   */
  private claimsWrittenUntilMs = 0;
  /** The scan in flight: a burst of events on a cold process shares one walk of the table. */
  private pendingScan?: ClaimScan<Row>;

  constructor(
    private readonly kind: ClaimKind<Row>,
    private readonly nowMs: () => number,
  ) {}

  /**
   * The key of the row that owns `wanted` (the first in key order that settles it, else the first), by a
   * walk of the table that misses arriving together share: one that arrives after the walk has passed rows
   * waits for it, and walks again only if rows without claims were found (a row it passed may own it).
   */
  async ownerOf(
    table: TableClient,
    declared: ReadonlyMap<string, ManagedEndpoint>,
    wanted: string,
  ): Promise<string | undefined> {
    if (this.nowMs() < this.everyRowClaimedUntilMs) return this.claimed(table, declared, wanted);
    for (;;) {
      const scan = this.pendingScan ?? this.startScan(table, declared);
      const asked = scan.ask(wanted);
      const result = await scan.done;
      this.keepFinding(scan, result);
      if (asked) return scan.ownerOf(wanted);
      // A claim miss while every row has its claim: no row owns it, but for one the walk claimed.
      if (result.everyRowClaimed) return this.claimed(table, declared, wanted);
      // The scan had passed rows when this miss came (one of them may own it) and found rows without
      // claims: the miss joins the next walk, or starts it.
    }
  }

  /** A new walk, which later misses join until it is done. */
  private startScan(table: TableClient, declared: ReadonlyMap<string, ManagedEndpoint>): ClaimScan<Row> {
    const scan = new ClaimScan(this.kind, table, declared, this.nowMs());
    const clear = (): void => {
      if (this.pendingScan === scan) this.pendingScan = undefined;
    };
    void scan.done.then(clear, clear);
    this.pendingScan = scan;
    return scan;
  }

  /**
   * Keeps a scan's "every row claimed", and whether it wrote claims on the way, for
   * {@link EVERY_ROW_CLAIMED_MS} from its start.
   */
  private keepFinding(scan: ClaimScan<Row>, { everyRowClaimed, wroteClaims }: ScanResult): void {
    if (!everyRowClaimed) return;
    const untilMs = scan.startedAtMs + EVERY_ROW_CLAIMED_MS;
    this.everyRowClaimedUntilMs = Math.max(this.everyRowClaimedUntilMs, untilMs);
    if (wroteClaims) this.claimsWrittenUntilMs = Math.max(this.claimsWrittenUntilMs, untilMs);
  }

  /**
   * The owner of a claim missed while every row has its claim: none, unless a scan that wrote claims gave
   * that word lately (one point read then: the claim may be one it wrote after the miss was read).
   */
  private async claimed(
    table: TableClient,
    declared: ReadonlyMap<string, ManagedEndpoint>,
    wanted: string,
  ): Promise<string | undefined> {
    if (this.nowMs() >= this.claimsWrittenUntilMs) return undefined;
    const holder = await this.kind.holderOf(table, wanted);
    return holder === undefined || declared.has(holder) ? undefined : holder;
  }
}

/** What a walk found. */
interface ScanResult {
  /** Every row has its claim. */
  readonly everyRowClaimed: boolean;
  /** The walk wrote a claim a row was missing. */
  readonly wroteClaims: boolean;
}

/** The owner found so far of an identity asked about. */
interface Owner {
  readonly rowKey: string;
  readonly settles: boolean;
}

/**
 * One pass over the endpoint rows, a page at a time, for the identities whose claims were missed. It finds
 * the owner of each (a row a file entry shadows, having its id, owns nothing) and whether every row has its
 * claim (only rows written before claims existed lack one).
 *
 * It holds one page, never the table. Once it has seen a row without its claim it reads no more claims, and
 * once every identity asked about is settled as well it reads no more pages. For a kind told of rows
 * claiming one identity twice, it also keeps the first claimant of each identity: the key of each row
 * passed and of each file entry (some 100 bytes a row, not the rows).
 */
class ClaimScan<Row extends Pick<EndpointEntity, 'rowKey'>> {
  readonly done: Promise<ScanResult>;
  private readonly owners = new Map<string, Owner | undefined>();
  private started = false;
  private wroteClaims = false;
  /** The first row passed claiming each identity, when the kind is told of rows claiming one twice. */
  private readonly firstClaimants?: Map<string, string>;
  private readonly claimedTwice: (readonly [string, string])[] = [];

  constructor(
    private readonly kind: ClaimKind<Row>,
    private readonly table: TableClient,
    private readonly declared: ReadonlyMap<string, ManagedEndpoint>,
    /** A row written after this may have been passed. */
    readonly startedAtMs: number,
  ) {
    // A file entry wins over a row of its endpoint under another id too (lookups answer the entry), so it is
    // that row's first claimant: both would rotate one endpoint's keys against each other.
    if (kind.registeredTwice)
      this.firstClaimants = new Map([...declared.values()].map((e) => [kind.identityOf(e), e.id]));
    this.done = this.walk();
  }

  /** Looks for the owner of `identity` too; false once rows were passed (one of them may own it). */
  ask(identity: string): boolean {
    if (this.started) return false;
    if (!this.owners.has(identity)) this.owners.set(identity, undefined);
    return true;
  }

  ownerOf(identity: string): string | undefined {
    return this.owners.get(identity)?.rowKey;
  }

  private async walk(): Promise<ScanResult> {
    let everyRowClaimed = true;
    let after: string | undefined;
    do {
      const { rows, more } = await readRowsPage<Row>(
        this.table,
        endpointRowsFilter(after),
        this.kind.pageSize,
        [...this.kind.columns],
      );
      this.started = true;
      const claims = rows.map((row) => ({ row, claim: this.kind.claimOf(row) }));
      for (const { row, claim } of claims) {
        const { rowKey } = row;
        if (!claim || this.declared.has(rowKey)) continue;
        this.noteClaimant(claim.identity, rowKey);
        if (!this.owners.has(claim.identity)) continue;
        const owner = this.owners.get(claim.identity);
        if (!owner || (!owner.settles && claim.settles))
          this.owners.set(claim.identity, { rowKey, settles: claim.settles });
      }
      if (everyRowClaimed) everyRowClaimed = await this.everyClaimed(claims);
      const ownersLeft = [...this.owners.values()].some((owner) => !owner?.settles);
      after = more && (everyRowClaimed || ownersLeft) ? rows.at(-1)?.rowKey : undefined;
    } while (after !== undefined);
    if (this.claimedTwice.length > 0) this.kind.registeredTwice?.(this.claimedTwice);
    return { everyRowClaimed, wroteClaims: this.wroteClaims };
  }

  /** Remembers the first row passed claiming `identity`, and pairs a later one with it. */
  private noteClaimant(identity: string, rowKey: string): void {
    if (!this.firstClaimants) return;
    const first = this.firstClaimants.get(identity);
    if (first === undefined) this.firstClaimants.set(identity, rowKey);
    else this.claimedTwice.push([first, rowKey]);
  }

  /** Whether each row's claim names it: one point read per row, a few at a time. */
  private async everyClaimed(claims: readonly { row: Row; claim: RowClaim | undefined }[]): Promise<boolean> {
    let claimed = true;
    await forEachLimited(claims, CLAIM_READS, async ({ row, claim }) => {
      const { rowKey } = row;
      // A row a file entry shadows (it has its id) owns nothing, claimed or not.
      if (!claimed || this.declared.has(rowKey)) return;
      const holder = claim && (await this.kind.holderOf(this.table, claim.identity));
      if (!claim || holder === rowKey) return;
      const backfilled =
        holder === undefined ? await this.backfill(claim.identity, rowKey) : await this.takeOver(row);
      if (backfilled) this.wroteClaims = true;
      else claimed = false;
    });
    return claimed;
  }

  /**
   * Takes over for `row` a claim naming another row, when that row is gone or no longer holds what it
   * claims (a rename or delete by a version from before the claims, or a backfill that met a rename): true
   * once the row holds it. Without this the row never gets its claim, and every miss walks the table until
   * someone edits that row. A claim its holder still holds (two rows sharing one secret or endpoint, from
   * before the claims) is left as it is: false, as before.
   *
   * The takeover is `If-Match` the ETag of the claim read: a write that took or freed it meanwhile makes it
   * fail (412, 404, or 409 for a claim created), false, and the next walk judges again. A PATCH of the row
   * itself meanwhile can leave the claim naming it for what it no longer has, as {@link backfill} can.
   */
  private async takeOver(row: Row): Promise<boolean> {
    const actions = await this.kind.takeOver(this.table, row);
    if (!actions) return false;
    try {
      await this.table.submitTransaction(actions);
      return true;
    } catch (error) {
      if ([404, 409, 412].includes(statusOf(error) ?? 0)) return false;
      throw error;
    }
  }

  /**
   * Writes the missing claim of `identity` for row `rowKey` (insert-only): true once the row holds it, false
   * when a claim was written there meanwhile (409).
   *
   * Most endpoints are never written again once registered, so without this a registry from before the
   * claims would walk the table for every event about a secret or an endpoint nobody registered, for good.
   *
   * A PATCH of the row while the walk passes it (moving it, renaming its secret) can leave this claim naming
   * it for what it no longer has. The move or rename takes its new claim; `findBySecretName` and `findByArm`
   * check that the row a claim names still has what it claims, and a registration or rename onto the old
   * secret or coordinates takes such a claim over (`takeSecretClaim`, `takeArmClaim`), as does a later walk
   * passing a row that holds them ({@link takeOver}).
   */
  private async backfill(identity: string, rowKey: string): Promise<boolean> {
    try {
      await this.table.createEntity(this.kind.claimAt(identity, rowKey));
      return true;
    } catch (error) {
      if (statusOf(error) === 409) return false;
      throw error;
    }
  }
}
