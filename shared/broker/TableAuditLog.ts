import { finishesWithin, TimeLimitError, withinTimeLimitGivingUp } from '../clock';
import { createTableOnce } from '../createOnce';
import type { Logger } from '../logging';
import { errorCodeOf, errorName, statusOf } from '../networkErrors';
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
  /** @param options.abortSignal - the creation, its request included, stops when it fires (past its time limit) */
  createTable(options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  /** @param abortSignal - the write, its request included, stops when it fires (past its time limit) */
  submitTransaction(actions: Array<['create', AuditRow]>, abortSignal?: AbortSignal): Promise<unknown>;
}

/** Options of {@link TableAuditLog}. */
export interface TableAuditLogOptions {
  table: AuditTable;
  logger: Logger;
  /** Where a loss of rows is summed up, as one `AuditRowsLost` event (never sampled) per loss. */
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
   * How long {@link TableAuditLog.close} waits for Table storage before it reports what is unwritten and
   * aborts the write in progress. The Functions host gives a stopping worker 5 s in all
   * (`WorkerTerminateGracePeriodInSeconds`), and the telemetry flush and the log lines themselves need
   * some of it. @default 3000
   */
  closeTimeoutMs?: number;
  /**
   * Longest one write may take before it counts as failed, is aborted (its request, and the SDK's
   * retries of it, closed) and its rows are held for another try: the Tables SDK sets no time limit, and
   * one write that never answered would stop every later one. A write that lands after all (storage may
   * store a batch whose request was given up) comes back 409 on the next try and counts as written.
   * @default 30000
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
 * are counted in the log and the `AuditDecisionsLost` metric, and summed up in one `AuditRowsLost`
 * telemetry event per loss (a flush, a refusal, a close), never one per row: see {@link lose}. So are the
 * decisions a full buffer dropped, at most once per flush ({@link reportDropped}).
 * Identical decisions of a flush interval share one row ({@link AuditRowBuilder}).
 */
export class TableAuditLog implements AuditLog {
  /** Decisions since the last flush. */
  private readonly decisions = new DecisionGroups();
  private readonly rows = new AuditRowBuilder();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private createTable: () => Promise<void>;
  /** Decisions dropped from a full buffer since the last flush; the issuances among them; their time span. */
  private dropped = 0;
  private droppedIssued = 0;
  private droppedFirstMs = 0;
  private droppedLastMs = 0;
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
  /** Why the last write failed (undefined after one that did not): what a loss report names as its cause. */
  private failure: unknown;
  /** Aborts the batch write in progress (or the last one, which it no longer affects): fired by a close that stops waiting. */
  private writeInProgress: AbortController | undefined;
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
      // Counters only (no allocation): the flush sums them up in one event.
      this.dropped++;
      if (entry.outcome === 'issued') this.droppedIssued++;
      if (this.dropped === 1 || entry.timeMs < this.droppedFirstMs) this.droppedFirstMs = entry.timeMs;
      if (entry.timeMs > this.droppedLastMs) this.droppedLastMs = entry.timeMs;
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
    this.reportDropped();
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
   * that fails, or when Table storage has not answered within `closeTimeoutMs`, is lost (and reported);
   * in the latter case the write in progress is aborted, so that its request (and the SDK's retries of
   * it, up to `writeTimeLimitMs`) does not hold a socket, nor keep the stopping process up.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.stopRetryTimer();
    if (!(await finishesWithin(this.flush(), this.closeTimeoutMs))) {
      this.failure = new TimeLimitError(this.closeTimeoutMs);
      this.writeInProgress?.abort(this.failure);
    }
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

  /**
   * Reports the decisions dropped from a full buffer since the last flush: a log line, the
   * `AuditDecisionsLost` metric, and one `AuditRowsLost` event (never sampled) by outcome with the time they
   * span, as a Table loss is summed up ({@link lose}), so that a flood's drops stay on record too. At the
   * flush, not behind the writes in progress: those may wait for a slow Table a long while. They never
   * became rows, so the event counts decisions only.
   */
  private reportDropped(): void {
    const dropped = this.dropped;
    if (dropped === 0) return;
    const issuedDecisions = this.droppedIssued;
    const [firstMs, lastMs] = [this.droppedFirstMs, this.droppedLastMs];
    this.dropped = this.droppedIssued = this.droppedFirstMs = this.droppedLastMs = 0;
    const { logger, telemetry } = this.options;
    logger.warn('record => buffer full, entries dropped', { dropped });
    telemetry.trackMetric('AuditDecisionsLost', dropped, { why: 'buffer full' });
    telemetry.trackEvent('AuditRowsLost', {
      why: 'buffer full',
      decisions: dropped,
      issuedDecisions,
      deniedDecisions: dropped - issuedDecisions,
      firstTime: new Date(firstMs).toISOString(),
      lastTime: new Date(lastMs).toISOString(),
    });
  }

  private async write(fresh: AuditBatch[]): Promise<void> {
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
    let refusal: unknown;
    const kept: AuditBatch[] = [];
    for (const batch of batches) {
      // A close that could not wait has reported it already.
      if (!this.unwritten.has(batch)) continue;
      // Once storage failed, the rest wait for the next try instead of each meeting the SDK's retries.
      if (failure !== undefined) {
        kept.push(batch);
        continue;
      }
      // Given up, not left running beside the next try (the SDK retries a failing write with pauses), at
      // its time limit or by a close that stops waiting.
      const giveUp = new AbortController();
      this.writeInProgress = giveUp;
      try {
        await withinTimeLimitGivingUp(
          (signal) => this.options.table.submitTransaction(batch.actions, signal),
          this.writeTimeLimitMs,
          giveUp.signal,
        );
        this.unwritten.delete(batch);
      } catch (error) {
        const status = statusOf(error);
        // Row keys are unique to this instance, so a conflict means an earlier try of this very batch
        // landed (every row: a transaction is atomic) and only its answer was lost.
        if (status === 409) this.unwritten.delete(batch);
        else if (status !== undefined && DEFINITE_REFUSALS.has(status)) {
          refused.push(batch);
          refusal ??= error;
        } else {
          // The table was deleted while the app ran (an operator dropping old rows at once): create it
          // again before the next try, which the rows wait for like any failure.
          if (status === 404) this.createTable = createTableOnce(this.options.table);
          failure = error;
          kept.push(batch);
        }
      }
    }
    this.failure = failure;
    if (refused.length > 0) this.lose(refused, 'refused', refusal);
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
   * Logs how many decisions the table will not get, counts them in the `AuditDecisionsLost` metric (the
   * alert's: log lines are sampled) and sums them up in one `AuditRowsLost` event ({@link lossReport}):
   * custom events are never sampled, so the loss stays on record in Application Insights.
   * Why one event and not one per row: a Table outage under load loses every flush's rows, hundreds a
   * second per instance, and an event per row flooded Application Insights (billed per item) and
   * overflowed the SDK's queue of 2,048 items, which then dropped other events, `RotationFailed` among them.
   * @param cause - the refusal of a `refused` batch; other losses name the last write's failure
   */
  private lose(
    batches: readonly AuditBatch[],
    why: 'refused' | 'too many held' | 'closed',
    cause: unknown = this.failure,
  ): void {
    // A close that could not wait has reported what its write had in hand, which may be answered later.
    const lost = batches.filter((batch) => this.unwritten.has(batch));
    if (lost.length === 0) return;
    for (const batch of lost) this.unwritten.delete(batch);
    const report = lossReport(lost);
    this.options.logger.error('write => entries lost', { lost: report.decisions, why });
    this.options.telemetry.trackMetric('AuditDecisionsLost', report.decisions, { why });
    this.options.telemetry.trackEvent('AuditRowsLost', { why, ...report, ...failureProps(cause) });
  }

  private stopRetryTimer(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}

/** What an operator needs to know of lost rows, and nothing of who asked for what. */
interface LossReport {
  rows: number;
  decisions: number;
  issuedRows: number;
  issuedDecisions: number;
  deniedRows: number;
  deniedDecisions: number;
  /** First and last decision of the lost rows (ISO 8601 UTC): where to look in the request log. */
  firstTime: string;
  lastTime: string;
}

/** Rows and decisions of the batches by outcome, and the time they span. */
function lossReport(batches: readonly AuditBatch[]): LossReport {
  const report = {
    rows: 0,
    decisions: 0,
    issuedRows: 0,
    issuedDecisions: 0,
    deniedRows: 0,
    deniedDecisions: 0,
  };
  let firstTime = '';
  let lastTime = '';
  for (const batch of batches) {
    for (const [, row] of batch.actions) {
      const count = Number(row['count']);
      const time = String(row['time']);
      const last = String(row['lastTime']);
      report.rows += 1;
      report.decisions += count;
      if (row['outcome'] === 'issued') {
        report.issuedRows += 1;
        report.issuedDecisions += count;
      } else {
        report.deniedRows += 1;
        report.deniedDecisions += count;
      }
      // ISO 8601 UTC times of one format sort as text.
      if (firstTime === '' || time < firstTime) firstTime = time;
      if (last > lastTime) lastTime = last;
    }
  }
  return { ...report, firstTime, lastTime };
}

/**
 * The Table failure behind a loss as telemetry properties: the error's name, HTTP status and code
 * (`ServerBusy`, `ECONNREFUSED`, …), never its message, which may quote a request; none when storage
 * was slow but answering.
 */
function failureProps(failure: unknown): TelemetryProps {
  if (failure === undefined) return {};
  return { error: errorName(failure), status: statusOf(failure), code: errorCodeOf(failure) };
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
