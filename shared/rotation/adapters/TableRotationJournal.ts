import type { TableClient, TableEntity, TransactionAction } from '@azure/data-tables';

import type { Clock, Sleep } from '../../clock';
import { createTableOnce } from '../../createOnce';
import { statusOf } from '../../networkErrors';
import { withRetries } from '../../retry';
import { LeaseLostError } from '../errors';
import { leaseFreeStateEdits } from '../leaseFreeStateEdits';
import {
  type JournalEntry,
  type Lease,
  type QueuedManualRotation,
  type RotationJournal,
  type RotationState,
  type StepRecord,
} from '../RotationJournal';

// A type, not an interface: transaction actions take it as a `Record<string, unknown>`.
type LeaseEntity = {
  partitionKey: string;
  rowKey: string;
  owner: string;
  expiresAt: number;
};

const LEASE = 'lease';
const STATE = 'state';

/**
 * `RotationJournal` in one Table: per endpoint (partition = endpoint id) a `lease` row, a `state` row
 * (JSON of `RotationState`) and one `step|<time>|<rotationId>|<step>` row per step.
 *
 * The lease is a classic optimistic lock: create-if-absent, or replace with `If-Match: <etag>` when the
 * row is expired (or ours). Whoever's conditional write lands holds it; the loser gets 409/412 and backs
 * off. Expiry means a crashed run is taken over after `ttl` without anyone cleaning up.
 *
 * Every state write is one entity group transaction (all three rows share the endpoint's partition):
 * the lease row replaced with `If-Match: <etag>` plus the state row and the step row. Table storage
 * applies all of it or none of it, so the lease check and the write cannot come apart — not even when
 * a retry of the write lands long after the lease lapsed. A renewal is that transaction with the lease
 * row alone. `markEnqueued` (the timer's note of a queued job) and the admin API's note of a manual
 * rotation (`markManualRotation`, `clearManualRotation`) are the writes without the lease: a replace of the
 * state row `If-Match` the ETag just read (or a create when there is none), refused when a run wrote first.
 *
 * Every conditional write is retried when transient. A retry of a write that had landed (its answer
 * lost) finds the row changed and is refused; the lease row then carries our owner and the expiry we
 * wrote, which tells that case apart from another run's write.
 */
export class TableRotationJournal implements RotationJournal {
  private readonly createTable: () => Promise<void>;
  /** The lease-free edits (the timer's mark, an operator's note), on {@link editStateOnce}. */
  private readonly edits = leaseFreeStateEdits((endpointId, edit) => this.editStateOnce(endpointId, edit));

  constructor(private readonly options: { table: TableClient; clock: Clock; sleep: Sleep }) {
    this.createTable = createTableOnce(options.table);
  }

  async acquireLease(endpointId: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    const table = await this.table();
    const existing = await this.retry(() => this.findLease(endpointId));
    const now = this.options.clock.now();
    if (existing && existing.owner !== owner && existing.expiresAt > now) return undefined;
    const row = leaseRow(endpointId, owner, now + ttlMs);
    // 409: another run created the row first; 412 or 404: it changed or went since we read it.
    const written = await this.conditionally([404, 409, 412], () =>
      existing ? table.updateEntity(row, 'Replace', { etag: existing.etag }) : table.createEntity(row),
    );
    return written ? asLease(row, written.etag ?? '') : this.landed(row);
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<Lease> {
    return this.fencedWrite(lease, ttlMs, []);
  }

  async releaseLease(lease: Lease): Promise<void> {
    const table = await this.table();
    await this.conditionally([404, 412], () =>
      table.deleteEntity(lease.endpointId, LEASE, { etag: lease.etag }),
    );
  }

  async getState(
    endpointId: string,
  ): Promise<{ state: RotationState; lease?: { owner: string; expiresAt: number } }> {
    await this.table();
    const [row, lease] = await Promise.all([
      this.retry(() => this.find<{ state: string }>(endpointId, STATE)),
      this.retry(() => this.findLease(endpointId)),
    ]);
    const live = lease && lease.expiresAt > this.options.clock.now();
    return {
      state: stateOf(row),
      ...(live ? { lease: { owner: lease.owner, expiresAt: lease.expiresAt } } : {}),
    };
  }

  async write(lease: Lease, ttlMs: number, entry: JournalEntry): Promise<Lease> {
    const partitionKey = lease.endpointId;
    const rows: TransactionAction[] = [
      ['upsert', { partitionKey, rowKey: STATE, state: JSON.stringify(entry.state) }, 'Replace'],
    ];
    if (entry.step) rows.push(['upsert', stepRow(partitionKey, entry.step), 'Replace']);
    return this.fencedWrite(lease, ttlMs, rows);
  }

  markEnqueued(endpointId: string, at: string): Promise<boolean> {
    return this.edits.markEnqueued(endpointId, at);
  }

  markManualRotation(
    endpointId: string,
    request: QueuedManualRotation,
    waits: (queuedAt: string) => boolean,
  ): Promise<string | undefined> {
    return this.edits.markManualRotation(endpointId, request, waits);
  }

  clearManualRotation(endpointId: string, requestId: string): Promise<void> {
    return this.edits.clearManualRotation(endpointId, requestId);
  }

  /**
   * A read-modify-write of the state row without the lease: `edit` returns the row to write (undefined: leave
   * it), which lands only on the row it read (`If-Match` its ETag, or a create when there was none).
   * @returns false when another writer wrote (or removed) the row in between, and nothing was written
   */
  private async editStateOnce(
    endpointId: string,
    edit: (state: RotationState) => RotationState | undefined,
  ): Promise<boolean> {
    const table = await this.table();
    const row = await this.retry(() => this.find<{ state: string }>(endpointId, STATE));
    const next = edit(stateOf(row));
    if (!next) return true;
    const entity = { partitionKey: endpointId, rowKey: STATE, state: JSON.stringify(next) };
    // 409: created by another writer first; 412 or 404: written (or gone) since we read it.
    const written = await this.conditionally([404, 409, 412], () =>
      row ? table.updateEntity(entity, 'Replace', { etag: row.etag }) : table.createEntity(entity),
    );
    return written !== undefined;
  }

  /** Renews `lease` and applies `rows` in one transaction, or throws `LeaseLostError` and applies nothing. */
  private async fencedWrite(lease: Lease, ttlMs: number, rows: TransactionAction[]): Promise<Lease> {
    const table = await this.table();
    const row = leaseRow(lease.endpointId, lease.owner, this.options.clock.now() + ttlMs);
    const actions: TransactionAction[] = [['update', row, 'Replace', { etag: lease.etag }], ...rows];
    // 412 or 404: the lease row is not the one the caller holds, or gone.
    const written = await this.conditionally([404, 412], () => table.submitTransaction(actions));
    const renewed = written ? asLease(row, written.subResponses[0]?.etag ?? '') : await this.landed(row);
    if (!renewed) throw new LeaseLostError(lease.endpointId);
    return renewed;
  }

  /**
   * A conditional write, retried when transient; its answer, or `undefined` when the service refused its
   * condition with one of `refusals`.
   */
  private conditionally<T>(refusals: number[], write: () => Promise<T>): Promise<T | undefined> {
    return this.retry(async () => {
      try {
        return await write();
      } catch (error) {
        if (refusals.includes(statusOf(error) ?? 0)) return undefined;
        throw error;
      }
    });
  }

  /**
   * After a refused conditional write of `row`: the lease, if the row is the one we wrote. That is a
   * retry (ours or the SDK's) of a write that had landed but whose answer was lost.
   */
  private async landed(row: LeaseEntity): Promise<Lease | undefined> {
    const stored = await this.retry(() => this.findLease(row.partitionKey));
    return stored?.owner === row.owner && stored.expiresAt === row.expiresAt
      ? asLease(row, stored.etag)
      : undefined;
  }

  private async findLease(endpointId: string): Promise<(LeaseEntity & { etag: string }) | undefined> {
    return this.find<LeaseEntity>(endpointId, LEASE);
  }

  private async find<T extends object>(
    partitionKey: string,
    rowKey: string,
  ): Promise<(T & { etag: string }) | undefined> {
    try {
      return await this.options.table.getEntity<T>(partitionKey, rowKey);
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async table(): Promise<TableClient> {
    await this.createTable();
    return this.options.table;
  }

  private retry<T>(operation: () => Promise<T>): Promise<T> {
    return withRetries(operation, { dependency: 'tables', sleep: this.options.sleep });
  }
}

function leaseRow(endpointId: string, owner: string, expiresAt: number): LeaseEntity {
  return { partitionKey: endpointId, rowKey: LEASE, owner, expiresAt };
}

function asLease(row: LeaseEntity, etag: string): Lease {
  return { endpointId: row.partitionKey, owner: row.owner, expiresAt: row.expiresAt, etag };
}

/** The Table row of one step record: RowKey `step|<time>|<rotationId>|<step>` sorts a partition's steps by time. */
function stepRow(partitionKey: string, step: Omit<StepRecord, 'endpointId'>): TableEntity {
  return {
    partitionKey,
    rowKey: `step|${step.at}|${step.rotationId}|${step.step}`,
    rotationId: step.rotationId,
    step: step.step,
    at: step.at,
    ...(step.slot ? { slot: step.slot } : {}),
    ...(step.detail ? { detail: step.detail } : {}),
  };
}

/** The state a journal state row holds (written only by this journal), or none when there is no row. */
function stateOf(row: { state: string } | undefined): RotationState {
  return row ? (JSON.parse(row.state) as RotationState) : {};
}
