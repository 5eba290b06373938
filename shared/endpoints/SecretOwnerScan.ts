import type { TableClient } from '@azure/data-tables';

import { forEachLimited } from '../forEachLimited';
import { MAX_PAGE_SIZE } from '../listPages';
import { readRowsPage } from '../tablePages';
import { type EndpointEntity, endpointRowsFilter, readClaim } from './endpointRows';
import { type ManagedEndpoint, secretIdentity } from './ManagedEndpoint';

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

/**
 * Finds the owner of a secret whose claim row was missed, by walking the endpoint rows: only rows
 * written before claims existed lack one, and such a row may own the secret. Misses arriving together
 * share one walk, and a walk that finds every row with its claim answers misses without a walk for
 * {@link EVERY_ROW_CLAIMED_MS} from its start.
 */
export class SecretOwnerScans {
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

  constructor(private readonly nowMs: () => number) {}

  /**
   * The key of the first row (in key order) that owns the secret of identity `wanted`, by a walk of the
   * table that misses arriving together share: one that arrives after the walk has passed rows waits for
   * it, and walks again only if rows without claims were found (a row it passed may own its secret).
   */
  async ownerOf(
    table: TableClient,
    declared: ReadonlyMap<string, ManagedEndpoint>,
    wanted: string,
  ): Promise<string | undefined> {
    if (this.nowMs() < this.everyRowClaimedUntilMs) return undefined;
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
}

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
    let everyRowClaimed = true;
    let after: string | undefined;
    do {
      const { rows, more } = await readRowsPage<ScannedRow>(
        this.table,
        endpointRowsFilter(after),
        SCAN_PAGE,
        ['rowKey', 'secretName'],
      );
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
