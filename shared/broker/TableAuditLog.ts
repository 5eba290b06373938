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
  /** Decisions held before new ones are dropped (and counted) while writes lag. @default 10000 */
  maxBuffered?: number;
}

/** Table transactions take at most 100 operations, all in one partition. */
const BATCH = 100;
const MAX_TEXT = 256;
/** Decisions one row holds; its `offsetsMs` then stays under 8 KB, far below a property's 64 KiB. */
const MAX_DECISIONS_PER_ROW = 1000;
const DAY_MS = 86_400_000;

/** Identical decisions of one flush interval (every field but the time), written as one row. */
interface DecisionGroup {
  readonly first: AuditEntry;
  /** UTC day number of the group's decisions. */
  readonly day: number;
  readonly times: number[];
}

/**
 * Audit rows in Table storage, written off the hot path: `record` only adds the decision's time to its
 * group in a bounded buffer; a timer (started by the first entry, `unref`ed) writes the groups as
 * batches of up to 100 rows per partition in one transaction. Storage failures are logged with the
 * number of decisions lost; they never fail a token request.
 *
 * One row records every identical decision of a flush interval (same client, scope, protocol,
 * outcome, reason, upstream and failure, same UTC day): `time` is the first decision, `lastTime` the
 * last, `count` how many, and `offsetsMs` each decision's time as milliseconds after `time`, in
 * order, so no decision and no time is lost. Why: an insert costs far more than a vend (`npm run
 * bench -- http`: a row per decision cost Table storage about 80 µs and the host about 25 µs per
 * vend, more than the rest of the broker's work), and a busy client asks for the same thing
 * thousands of times a second. PartitionKey = UTC day (`2026-11-23`), RowKey = zero-padded epoch ms
 * of the first decision + a sequence + an instance tag, so rows sort by time and never collide
 * across instances.
 */
export class TableAuditLog implements AuditLog {
  /** Decisions since the last flush, grouped as they arrive: each keeps only its time (a number), so a
   * second of traffic does not hold thousands of entry objects long enough to reach the old GC space. */
  private groups = new Map<string, DecisionGroup>();
  /** The group of the previous decision: a busy client's next decision is usually the same one. */
  private lastGroup: DecisionGroup | undefined;
  private buffered = 0;
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
    if (this.buffered >= this.maxBuffered) {
      this.dropped++;
      return;
    }
    this.buffered++;
    const day = Math.floor(entry.timeMs / DAY_MS);
    let group = this.lastGroup;
    if (!group || group.day !== day || !sameDecision(group.first, entry)) {
      const key = groupKey(day, entry);
      group = this.groups.get(key);
      if (!group) {
        group = { first: entry, day, times: [] };
        this.groups.set(key, group);
      }
      this.lastGroup = group;
    }
    group.times.push(entry.timeMs);
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushDelayMs);
      this.timer.unref();
    }
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const groups = [...this.groups.values()];
    const decisions = this.buffered;
    this.groups = new Map();
    this.lastGroup = undefined;
    this.buffered = 0;
    this.writing = this.writing
      .then(() => this.write(groups, decisions))
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

  private async write(groups: readonly DecisionGroup[], decisions: number): Promise<void> {
    if (this.dropped > 0) {
      this.options.logger.warn('record => buffer full, entries dropped', { dropped: this.dropped });
      this.dropped = 0;
    }
    if (decisions === 0) return;
    const partitions = new Map<string, Array<['create', AuditRow]>>();
    for (const group of groups) {
      // Decisions are recorded in clock order, except across awaits that read the clock earlier.
      group.times.sort((a, b) => a - b);
      for (let i = 0; i < group.times.length; i += MAX_DECISIONS_PER_ROW) {
        const row = this.toRow(group.first, group.times.slice(i, i + MAX_DECISIONS_PER_ROW));
        const actions = partitions.get(row.partitionKey) ?? [];
        actions.push(['create', row]);
        partitions.set(row.partitionKey, actions);
      }
    }
    try {
      await this.createTable();
    } catch (error) {
      this.options.logger.error('write => table unavailable, entries lost', {
        lost: decisions,
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
            lost: batch.reduce((sum, [, row]) => sum + Number(row['count']), 0),
            error: error instanceof Error ? error.name : 'unknown',
          });
        }
      }
    }
  }

  /** One row for `times` (ascending) of decisions identical to `entry`. */
  private toRow(entry: AuditEntry, times: number[]): AuditRow {
    const firstMs = times[0] ?? entry.timeMs;
    const lastMs = times[times.length - 1] ?? firstMs;
    const time = new Date(firstMs).toISOString();
    this.sequence = (this.sequence + 1) % 1_000_000;
    return {
      partitionKey: time.slice(0, 10),
      rowKey: `${String(firstMs).padStart(15, '0')}-${String(this.sequence).padStart(6, '0')}-${this.instance}`,
      time,
      lastTime: new Date(lastMs).toISOString(),
      count: times.length,
      offsetsMs: times.map((t) => t - firstMs).join(','),
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

/** What identical decisions share, besides their UTC day: every field but the time. */
const DECISION_FIELDS = [
  'clientId',
  'scope',
  'protocol',
  'outcome',
  'reason',
  'upstream',
  'failure',
] as const;

/** JSON, not a separator, because presented client ids and scopes may hold any character. */
function groupKey(day: number, entry: AuditEntry): string {
  return JSON.stringify([day, ...DECISION_FIELDS.map((field) => entry[field])]);
}

function sameDecision(a: AuditEntry, b: AuditEntry): boolean {
  return DECISION_FIELDS.every((field) => a[field] === b[field]);
}
