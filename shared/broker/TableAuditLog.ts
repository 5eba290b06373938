import type { Logger } from '../logging';
import { createTableOnce } from '../tableOnce';
import type { AuditEntry, AuditLog } from './AuditLog';

/** One audit row as written. */
export type AuditRow = { partitionKey: string; rowKey: string } & Record<string, unknown>;

/** The `TableClient` operations the audit log uses (structural, so tests can pass a capturing fake). */
export interface AuditTable {
  createTable(): Promise<unknown>;
  submitTransaction(actions: Array<['create', AuditRow]>): Promise<unknown>;
}

/** Options of {@link TableAuditLog}. */
export interface TableAuditLogOptions {
  table: AuditTable;
  logger: Logger;
  /** Delay between the first queued entry and the write. @default 1000 */
  flushDelayMs?: number;
  /** Entries held before new ones are dropped (and counted) during a storage outage. @default 10000 */
  maxBuffered?: number;
}

/** Table transactions take at most 100 operations, all in one partition. */
const BATCH = 100;
const MAX_TEXT = 256;

/**
 * Audit rows in Table storage, written off the hot path: `record` only pushes onto a bounded buffer;
 * a timer (started by the first entry, `unref`ed) writes batches of up to 100 rows per partition in
 * one transaction. PartitionKey = UTC day (`2026-11-23`), RowKey = zero-padded epoch ms + a sequence +
 * an instance tag, so rows sort by time and never collide across instances. Storage failures are
 * logged with the number of rows lost; they never fail a token request.
 */
export class TableAuditLog implements AuditLog {
  private buffer: AuditEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private readonly createTable: () => Promise<void>;
  private sequence = 0;
  private dropped = 0;
  private readonly instance = Math.random().toString(36).slice(2, 8);
  private readonly flushDelayMs: number;
  private readonly maxBuffered: number;

  constructor(private readonly options: TableAuditLogOptions) {
    this.createTable = createTableOnce(options.table);
    this.flushDelayMs = options.flushDelayMs ?? 1000;
    this.maxBuffered = options.maxBuffered ?? 10_000;
  }

  record(entry: AuditEntry): void {
    if (this.buffer.length >= this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.buffer.push(entry);
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushDelayMs);
      this.timer.unref();
    }
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const entries = this.buffer;
    this.buffer = [];
    this.writing = this.writing
      .then(() => this.write(entries))
      .catch((error: unknown) =>
        this.options.logger.error('write => failed', {
          error: error instanceof Error ? error.name : 'unknown',
        }),
      );
    return this.writing;
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private async write(entries: AuditEntry[]): Promise<void> {
    if (this.dropped > 0) {
      this.options.logger.warn('record => buffer full, entries dropped', { dropped: this.dropped });
      this.dropped = 0;
    }
    if (entries.length === 0) return;
    const partitions = new Map<string, Array<['create', AuditRow]>>();
    for (const entry of entries) {
      const row = this.toRow(entry);
      const actions = partitions.get(row.partitionKey) ?? [];
      actions.push(['create', row]);
      partitions.set(row.partitionKey, actions);
    }
    try {
      await this.createTable();
    } catch (error) {
      this.options.logger.error('write => table unavailable, entries lost', {
        lost: entries.length,
        error: error instanceof Error ? error.name : 'unknown',
      });
      return;
    }
    for (const actions of partitions.values()) {
      for (let i = 0; i < actions.length; i += BATCH) {
        const batch = actions.slice(i, i + BATCH);
        try {
          await this.options.table.submitTransaction(batch);
        } catch (error) {
          this.options.logger.error('write => batch failed, entries lost', {
            lost: batch.length,
            error: error instanceof Error ? error.name : 'unknown',
          });
        }
      }
    }
  }

  private toRow(entry: AuditEntry): AuditRow {
    const time = new Date(entry.timeMs).toISOString();
    this.sequence = (this.sequence + 1) % 1_000_000;
    return {
      partitionKey: time.slice(0, 10),
      rowKey: `${String(entry.timeMs).padStart(15, '0')}-${String(this.sequence).padStart(6, '0')}-${this.instance}`,
      time,
      clientId: entry.clientId.slice(0, MAX_TEXT),
      scope: entry.scope.slice(0, MAX_TEXT),
      protocol: entry.protocol,
      outcome: entry.outcome,
      ...(entry.reason ? { reason: entry.reason } : {}),
      ...(entry.upstream ? { upstream: entry.upstream } : {}),
      ...(entry.failure ? { failure: entry.failure } : {}),
    };
  }
}
