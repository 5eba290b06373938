import { createHash } from 'node:crypto';

import { type Clock, isoNow, untilAborted } from '../clock';
import { createTableOnce } from '../createOnce';
import { DependencyUnavailableError } from '../errors';
import type { Logger } from '../logging';
import { errorName, statusOf } from '../networkErrors';
import { cutText } from '../tableLimits';
import { dayPartition, type ProcessedEventRecord, type ProcessedEventStore } from './ProcessedEventStore';

/** Structural view of the `@azure/data-tables` TableClient methods used. */
export interface ProcessedEventsTable {
  createTable(options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  getEntity(partitionKey: string, rowKey: string, options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  createEntity(
    entity: Record<string, unknown> & { partitionKey: string; rowKey: string },
    options?: { abortSignal?: AbortSignal },
  ): Promise<unknown>;
  deleteEntity(partitionKey: string, rowKey: string): Promise<unknown>;
  listEntities(options: {
    queryOptions: { filter: string; select: string[] };
  }): AsyncIterable<{ partitionKey?: string; rowKey?: string }>;
}

/** Options of {@link TableProcessedEventStore}. */
export interface TableProcessedEventStoreOptions {
  table: ProcessedEventsTable;
  clock: Clock;
  logger: Logger;
  /** Days a record is kept. @default 3 (Event Grid retries for at most 24 h) */
  retentionDays?: number;
  /** Minimum time between lazy purges in one process. @default 3_600_000 */
  purgeIntervalMs?: number;
}

/**
 * `ProcessedEventStore` in Table storage. Partition = UTC day of the event's own time (identical on
 * every redelivery, so a lookup is one point read and a purge drops whole old partitions); row key =
 * the event id, made key-safe. `createEntity` is insert-if-absent: a 409 means another instance
 * recorded it first, which is fine.
 */
export class TableProcessedEventStore implements ProcessedEventStore {
  private readonly retentionDays: number;
  private readonly purgeIntervalMs: number;
  private lastPurge = 0;
  private readonly createTable: () => Promise<void>;

  constructor(private readonly options: TableProcessedEventStoreOptions) {
    this.createTable = createTableOnce(options.table);
    this.retentionDays = options.retentionDays ?? 3;
    this.purgeIntervalMs = options.purgeIntervalMs ?? 3_600_000;
  }

  async has(id: string, eventTime: Date, abortSignal?: AbortSignal): Promise<boolean> {
    await this.ensureTable(abortSignal);
    try {
      await this.options.table.getEntity(dayPartition(eventTime), rowKeyOf(id), { abortSignal });
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw unavailable(error, 'read');
    }
  }

  async markProcessed(record: ProcessedEventRecord, abortSignal?: AbortSignal): Promise<void> {
    await this.ensureTable(abortSignal);
    try {
      await this.options.table.createEntity(
        {
          partitionKey: dayPartition(record.eventTime),
          rowKey: rowKeyOf(record.id),
          eventId: record.id.slice(0, 512),
          eventType: cutText(record.type, 256),
          outcome: record.outcome,
          processedAt: isoNow(this.options.clock),
        },
        { abortSignal },
      );
    } catch (error) {
      if (statusOf(error) !== 409) throw unavailable(error, 'write');
    }
    this.purgeLazily();
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    await this.ensureTable();
    let deleted = 0;
    const rows = this.options.table.listEntities({
      queryOptions: {
        filter: `PartitionKey lt '${dayPartition(cutoff)}'`,
        select: ['PartitionKey', 'RowKey'],
      },
    });
    for await (const row of rows) {
      if (!row.partitionKey || !row.rowKey) continue;
      try {
        await this.options.table.deleteEntity(row.partitionKey, row.rowKey);
        deleted += 1;
      } catch (error) {
        if (statusOf(error) !== 404) throw unavailable(error, 'purge');
      }
    }
    return deleted;
  }

  /** At most once per interval per process, in the background: purging must never slow a delivery. */
  private purgeLazily(): void {
    const now = this.options.clock.now();
    if (now - this.lastPurge < this.purgeIntervalMs) return;
    this.lastPurge = now;
    const cutoff = new Date(now - this.retentionDays * 86_400_000);
    this.purgeOlderThan(cutoff).then(
      (deleted) => this.options.logger.info('purge => done', { deleted }),
      (error: unknown) =>
        this.options.logger.warn('purge => failed, retried later', {
          error: errorName(error),
        }),
    );
  }

  /** Raced with `abortSignal`, not handed it: the table's creation is shared by every call. */
  private async ensureTable(abortSignal?: AbortSignal): Promise<void> {
    await untilAborted(this.createTable(), abortSignal).catch((error: unknown) => {
      throw unavailable(error, 'createTable');
    });
  }
}

/** Table row keys may not contain / \ # ? or control characters and are limited to 1 KiB. */
function rowKeyOf(id: string): string {
  const encoded = encodeURIComponent(id);
  return encoded.length <= 200 ? encoded : `sha256-${createHash('sha256').update(id).digest('hex')}`;
}

function unavailable(error: unknown, operation: string): DependencyUnavailableError {
  return new DependencyUnavailableError('tables', `Processed-events table ${operation} failed.`, {
    cause: error,
  });
}
