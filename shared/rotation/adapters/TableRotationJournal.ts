import type { TableClient, TableEntity, TransactionAction } from '@azure/data-tables';

import type { Clock, Sleep } from '../../clock';
import { createTableOnce } from '../../tableOnce';
import { LeaseLostError } from '../errors';
import { withRetries } from '../retry';
import type { JournalEntry, Lease, RotationJournal, RotationState, StepRecord } from '../RotationJournal';

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
 * a retry of the write lands long after the lease lapsed.
 */
export class TableRotationJournal implements RotationJournal {
  private readonly createTable: () => Promise<void>;

  constructor(private readonly options: { table: TableClient; clock: Clock; sleep: Sleep }) {
    this.createTable = createTableOnce(options.table);
  }

  async acquireLease(endpointId: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    const table = await this.table();
    const existing = await this.retry(() => this.findLease(endpointId));
    const now = this.options.clock.now();
    if (existing && existing.owner !== owner && existing.expiresAt > now) return undefined;
    const entity = leaseRow(endpointId, owner, now + ttlMs);
    try {
      const response = existing
        ? await table.updateEntity(entity, 'Replace', { etag: existing.etag })
        : await table.createEntity(entity);
      return { endpointId, owner, expiresAt: entity.expiresAt, etag: response.etag ?? '' };
    } catch (error) {
      if (statusOf(error) === 409 || statusOf(error) === 412) return undefined;
      throw error;
    }
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<Lease> {
    const table = await this.table();
    const expiresAt = this.options.clock.now() + ttlMs;
    try {
      const row = leaseRow(lease.endpointId, lease.owner, expiresAt);
      const response = await table.updateEntity(row, 'Replace', { etag: lease.etag });
      return { ...lease, expiresAt, etag: response.etag ?? '' };
    } catch (error) {
      if (statusOf(error) === 404 || statusOf(error) === 412) throw new LeaseLostError(lease.endpointId);
      throw error;
    }
  }

  async releaseLease(lease: Lease): Promise<void> {
    const table = await this.table();
    try {
      await table.deleteEntity(lease.endpointId, LEASE, { etag: lease.etag });
    } catch (error) {
      if (statusOf(error) !== 404 && statusOf(error) !== 412) throw error;
    }
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
      state: row ? (JSON.parse(row.state) as RotationState) : {},
      ...(live ? { lease: { owner: lease.owner, expiresAt: lease.expiresAt } } : {}),
    };
  }

  async write(lease: Lease, ttlMs: number, entry: JournalEntry): Promise<Lease> {
    const table = await this.table();
    const partitionKey = lease.endpointId;
    const expiresAt = this.options.clock.now() + ttlMs;
    const actions: TransactionAction[] = [
      ['update', leaseRow(partitionKey, lease.owner, expiresAt), 'Replace', { etag: lease.etag }],
      ['upsert', { partitionKey, rowKey: STATE, state: JSON.stringify(entry.state) }, 'Replace'],
    ];
    if (entry.step) actions.push(['upsert', stepRow(partitionKey, entry.step), 'Replace']);
    // undefined: the lease row is not the one the caller holds (412) or gone (404).
    const etag = await this.retry(async () => {
      try {
        return (await table.submitTransaction(actions)).subResponses[0]?.etag ?? '';
      } catch (error) {
        if (statusOf(error) === 404 || statusOf(error) === 412) return undefined;
        throw error;
      }
    });
    if (etag !== undefined) return { ...lease, expiresAt, etag };
    // A retry (ours or the SDK's) of a transaction that had landed finds its own lease row changed.
    const landed = await this.retry(() => this.findLease(partitionKey));
    if (landed?.owner === lease.owner && landed.expiresAt === expiresAt)
      return { ...lease, expiresAt, etag: landed.etag };
    throw new LeaseLostError(lease.endpointId);
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

/** HTTP status of an SDK error, if any. */
export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}
