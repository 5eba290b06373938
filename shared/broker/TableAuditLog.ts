import { finishesWithin, withinTimeLimit } from '../clock';
import { createTableOnce } from '../createOnce';
import type { Logger } from '../logging';
import { errorName, statusOf } from '../networkErrors';
import type { Telemetry, TelemetryProps } from '../telemetry';
import type { AuditEntry, AuditLog } from './AuditLog';
import {
  type AuditBatch,
  type AuditRow,
  AuditRowBuilder,
  batchOf,
  coarsenDenials,
  type DecisionGroup,
  DecisionGroups,
  rowsFor,
} from './auditRows';

/** The `TableClient` operations the audit log uses (structural, so tests can pass a capturing fake). */
export interface AuditTable {
  createTable(): Promise<unknown>;
  submitTransaction(actions: Array<['create', AuditRow]>): Promise<unknown>;
}

/** Options of {@link TableAuditLog}. */
export interface TableAuditLogOptions {
  table: AuditTable;
  logger: Logger;
  /** Where rows that miss the table go instead, as `AuditRowLost` events (never sampled). */
  telemetry: Telemetry;
  /** Delay between the first queued entry and the write. @default 1000 */
  flushDelayMs?: number;
  /**
   * Different decisions of each outcome (issued, denied) one flush interval holds; a decision that would
   * make one more is dropped and counted. An identical decision only adds its time to its row, so only a
   * flood of made-up client ids or scopes reaches this, and its denials never crowd out an issuance.
   * @default 10000
   */
  maxBuffered?: number;
  /**
   * Rows kept in memory for Table storage: held for another try while it fails, or waiting behind
   * writes while it is slow. Beyond half of them, a flush interval's further denials are recorded
   * coarse ({@link coarsenDenials}); beyond all of them, rows are lost (and counted). @default 2000
   */
  maxHeldRows?: number;
  /**
   * How long {@link TableAuditLog.close} waits for Table storage before it reports what is unwritten.
   * The Functions host gives a stopping worker 5 s in all (`WorkerTerminateGracePeriodInSeconds`), and
   * the telemetry flush and the log lines themselves need some of it. @default 3000
   */
  closeTimeoutMs?: number;
  /**
   * Longest one write may take before it counts as failed and its rows are held for another try: the
   * Tables SDK sets no time limit, and one write that never answered would stop every later one. A write
   * that lands after all comes back 409 on the next try and counts as written. @default 30000
   */
  writeTimeLimitMs?: number;
}

/** Longest pause between tries while Table storage keeps failing. */
const MAX_RETRY_DELAY_MS = 60_000;
/** Refusals that the same bytes will meet again: the batch is lost, not retried. */
const DEFINITE_REFUSALS = new Set([400, 413]);

/**
 * Audit rows in Table storage, written off the hot path: `record` only adds the decision's time to its
 * group in a bounded buffer; a timer (started by the first entry, `unref`ed) writes the groups as
 * batches of up to 100 rows per partition in one transaction. Storage failures never fail a token
 * request: while Table storage is unreachable or failing (after the SDK's own retries), the rows are
 * kept, in order, and tried again with a growing pause (up to a minute), so an outage loses no
 * decision unless more than `maxHeldRows` rows pile up; a batch whose earlier try landed although its
 * answer was lost comes back 409 and counts as written. The same bound holds while storage is slow but
 * answering, with denials recorded coarse first ({@link coarsenDenials}). Rows the table does not get
 * are counted in the log and the `AuditDecisionsLost` metric, and sent, one by one, as `AuditRowLost`
 * telemetry events. Identical decisions of a flush interval share one row ({@link AuditRowBuilder}).
 */
export class TableAuditLog implements AuditLog {
  /** Decisions since the last flush. */
  private readonly decisions = new DecisionGroups();
  private readonly rows = new AuditRowBuilder();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private createTable: () => Promise<void>;
  private dropped = 0;
  /** Batches a failed write kept for the next try, oldest first. */
  private held: AuditBatch[] = [];
  /** Every batch not yet written or lost: waiting for a write, being written, or held. */
  private readonly unwritten = new Set<AuditBatch>();
  /** Set by {@link close}: no more pauses and tries. */
  private closed = false;
  /** Whether the last flush recorded denials coarse (its log line is written once per stretch). */
  private coarse = false;
  /** Writes in a row that ended with rows held (sets the pause before the next try). */
  private failedWrites = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly flushDelayMs: number;
  private readonly maxBuffered: number;
  private readonly maxHeldRows: number;
  private readonly closeTimeoutMs: number;
  private readonly writeTimeLimitMs: number;

  constructor(private readonly options: TableAuditLogOptions) {
    this.createTable = createTableOnce(options.table);
    this.flushDelayMs = options.flushDelayMs ?? 1000;
    this.maxBuffered = options.maxBuffered ?? 10_000;
    this.maxHeldRows = options.maxHeldRows ?? 2000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 3000;
    this.writeTimeLimitMs = options.writeTimeLimitMs ?? 30_000;
  }

  record(entry: AuditEntry): void {
    if (!this.decisions.add(entry, this.maxBuffered)) {
      this.dropped++;
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.flushDelayMs);
      this.timer.unref();
    }
  }

  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // Rows already waiting for Table storage, counted once: both steps below go by them.
    const waiting = rowsIn(this.unwritten);
    const groups = this.coarsened(this.decisions.drain(), waiting);
    const fresh = this.admit(this.rows.toBatches(groups), waiting);
    this.writing = this.writing
      .then(() => this.write(fresh))
      .catch((error: unknown) =>
        this.options.logger.error('write => failed', {
          error: errorName(error),
        }),
      );
    return this.writing;
  }

  /**
   * Flushes, trying held rows once more without waiting for their pause. What is still unwritten when
   * that fails, or when Table storage has not answered within `closeTimeoutMs`, is lost (and reported).
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stopRetryTimer();
    await finishesWithin(this.flush(), this.closeTimeoutMs);
    this.stopRetryTimer();
    this.held = [];
    if (this.unwritten.size > 0) this.lose([...this.unwritten], 'closed');
  }

  /**
   * The interval's groups, with denials beyond what half of `maxHeldRows` has room for besides the
   * `waiting` rows made coarse.
   * Why: while Table storage is slow but answering, every flush queues its rows behind the writes in
   * progress, and a flood of made-up client ids makes a row per decision: 3,000 a second grew the heap
   * by 0.7 MB a second behind 50 ms batch writes, with no log line and nothing lost to say so.
   */
  private coarsened(groups: DecisionGroup[], waiting: number): DecisionGroup[] {
    const freshRows = rowsFor(groups);
    const exactRows = Math.floor(this.maxHeldRows / 2) - waiting;
    if (freshRows <= exactRows) {
      if (this.coarse) this.options.logger.info('flush => denials recorded exact again');
      this.coarse = false;
      return groups;
    }
    const coarse = coarsenDenials(groups, exactRows);
    if (coarse.merged > 0 && !this.coarse) {
      this.options.logger.warn('flush => too many rows waiting, denials recorded coarse', {
        waitingRows: waiting,
        freshRows,
        merged: coarse.merged,
      });
    }
    this.coarse ||= coarse.merged > 0;
    return coarse.groups;
  }

  /**
   * Registers `fresh` as unwritten and returns what `maxHeldRows` has room for besides the `waiting`
   * rows, in order: the rest is lost at once (and counted), so that memory stays bounded however slow
   * Table storage answers.
   */
  private admit(fresh: AuditBatch[], waiting: number): AuditBatch[] {
    let room = this.maxHeldRows - waiting;
    const admitted: AuditBatch[] = [];
    const overflow: AuditBatch[] = [];
    for (const batch of fresh) {
      const fits = Math.max(0, Math.min(room, batch.actions.length));
      room -= fits;
      if (fits === batch.actions.length) admitted.push(batch);
      else {
        if (fits > 0) admitted.push(batchOf(batch.actions.slice(0, fits)));
        overflow.push(batchOf(batch.actions.slice(fits)));
      }
    }
    for (const batch of [...admitted, ...overflow]) this.unwritten.add(batch);
    if (overflow.length > 0) this.lose(overflow, 'too many held');
    return admitted;
  }

  private async write(fresh: AuditBatch[]): Promise<void> {
    if (this.dropped > 0) {
      this.options.logger.warn('record => buffer full, entries dropped', { dropped: this.dropped });
      this.options.telemetry.trackMetric('AuditDecisionsLost', this.dropped, { why: 'buffer full' });
      this.dropped = 0;
    }
    // While a retry is pending, Table storage was failing a moment ago: new rows queue behind the held ones.
    if (this.retryTimer) return this.hold(fresh);
    const batches = [...this.takeHeld(), ...fresh];
    if (batches.length === 0) return;
    let failure: unknown;
    try {
      await this.createTable();
    } catch (error) {
      failure = error;
    }
    const refused: AuditBatch[] = [];
    const kept: AuditBatch[] = [];
    for (const batch of batches) {
      // A close that could not wait has reported it already.
      if (!this.unwritten.has(batch)) continue;
      // Once storage failed, the rest wait for the next try instead of each meeting the SDK's retries.
      if (failure !== undefined) {
        kept.push(batch);
        continue;
      }
      try {
        await withinTimeLimit(this.options.table.submitTransaction(batch.actions), this.writeTimeLimitMs);
        this.unwritten.delete(batch);
      } catch (error) {
        const status = statusOf(error);
        // Row keys are unique to this instance, so a conflict means an earlier try of this very batch
        // landed (every row: a transaction is atomic) and only its answer was lost.
        if (status === 409) this.unwritten.delete(batch);
        else if (status !== undefined && DEFINITE_REFUSALS.has(status)) refused.push(batch);
        else {
          // The table was deleted while the app ran (an operator dropping old rows at once): create it
          // again before the next try, which the rows wait for like any failure.
          if (status === 404) this.createTable = createTableOnce(this.options.table);
          failure = error;
          kept.push(batch);
        }
      }
    }
    if (refused.length > 0) this.lose(refused, 'refused');
    this.hold(kept);
    this.afterWrite(failure);
  }

  /** Schedules the next try while rows are held, and says when storage is back. */
  private afterWrite(failure: unknown): void {
    const { logger } = this.options;
    if (this.closed) return;
    if (this.held.length === 0) {
      if (this.failedWrites > 0) logger.info('write => storage back, held entries written');
      this.failedWrites = 0;
      return;
    }
    this.failedWrites += 1;
    const delayMs = Math.min(MAX_RETRY_DELAY_MS, this.flushDelayMs * 2 ** this.failedWrites);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.flush();
    }, delayMs);
    this.retryTimer.unref();
    logger.warn('write => storage failing, entries held for retry', {
      held: decisionsIn(this.held),
      retryInSeconds: Math.round(delayMs / 1000),
      error: errorName(failure),
      status: statusOf(failure),
    });
  }

  /** Keeps `batches` for the next try, as far as {@link TableAuditLogOptions.maxHeldRows} allows. */
  private hold(batches: readonly AuditBatch[]): void {
    let rows = this.held.reduce((sum, batch) => sum + batch.actions.length, 0);
    const overflow: AuditBatch[] = [];
    for (const batch of batches) {
      if (rows + batch.actions.length > this.maxHeldRows) {
        overflow.push(batch);
        continue;
      }
      this.held.push(batch);
      rows += batch.actions.length;
    }
    if (overflow.length > 0) this.lose(overflow, 'too many held');
  }

  private takeHeld(): AuditBatch[] {
    const held = this.held;
    this.held = [];
    return held;
  }

  /**
   * Logs how many decisions the table will not get, and sends each of their rows (which hold no secret)
   * as an `AuditRowLost` event: custom events are never sampled, where log lines are, so the trail
   * lives on in Application Insights.
   */
  private lose(batches: readonly AuditBatch[], why: 'refused' | 'too many held' | 'closed'): void {
    // A close that could not wait has reported what its write had in hand, which may be answered later.
    const lost = batches.filter((batch) => this.unwritten.has(batch));
    if (lost.length === 0) return;
    this.options.logger.error('write => entries lost', { lost: decisionsIn(lost), why });
    // The alert's metric: log lines are sampled, and the events below are one per row, not per decision.
    this.options.telemetry.trackMetric('AuditDecisionsLost', decisionsIn(lost), { why });
    for (const batch of lost) {
      this.unwritten.delete(batch);
      for (const [, row] of batch.actions) {
        this.options.telemetry.trackEvent('AuditRowLost', { ...columnsOf(row), why });
      }
    }
  }

  private stopRetryTimer(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}

/** A row's columns but its keys (the time says the day; the row key only made it unique). */
function columnsOf({ partitionKey: _day, rowKey: _unique, ...columns }: AuditRow): TelemetryProps {
  const props: TelemetryProps = {};
  for (const [name, value] of Object.entries(columns)) {
    if (typeof value === 'string' || typeof value === 'number') props[name] = value;
  }
  return props;
}

/** Rows of the batches. */
function rowsIn(batches: Iterable<AuditBatch>): number {
  let rows = 0;
  for (const batch of batches) rows += batch.actions.length;
  return rows;
}

/** Decisions the batches record. */
function decisionsIn(batches: readonly AuditBatch[]): number {
  return batches.reduce((sum, batch) => sum + batch.decisions, 0);
}
