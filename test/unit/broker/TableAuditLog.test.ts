import { RestError } from '@azure/core-rest-pipeline';

import type { AuditEntry } from '../../../shared/broker/AuditLog';
import type { AuditRow } from '../../../shared/broker/auditRows';
import {
  type AuditTable,
  TableAuditLog,
  type TableAuditLogOptions,
} from '../../../shared/broker/TableAuditLog';
import { CapturingLogger, CapturingTelemetry } from '../../fakes/capture';
import { Gate } from '../../support/Gate';
import { settle, waitFor } from '../../support/waitFor';

/**
 * A Table that stores batches atomically (a batch with an existing row key is refused 409, as Table
 * storage does) and fails on demand: down (503 after the SDK's retries), refusing with a status, or
 * storing the next batch and then losing the answer (a network error); a closed `answers` gate holds
 * every answer, as a connection into a black hole would. `signals` holds the signal each write was handed;
 * a held write does not heed it, since Table storage may still store a batch whose request was given up.
 */
class FakeTable implements AuditTable {
  readonly batches: AuditRow[][] = [];
  private readonly keys = new Set<string>();
  tries = 0;
  readonly signals: Array<AbortSignal | undefined> = [];
  down = false;
  refuse: number | undefined;
  loseNextAnswer = false;
  readonly answers = new Gate();
  /** Deleted by an operator: inserts answer 404 until the table is created again. */
  deleted = false;
  creations = 0;

  /** @param start - how the table behaves from the first write; `silent` closes `answers` */
  constructor(start: { down?: boolean; refuse?: number; loseNextAnswer?: boolean; silent?: boolean } = {}) {
    this.down = start.down ?? false;
    this.refuse = start.refuse;
    this.loseNextAnswer = start.loseNextAnswer ?? false;
    if (start.silent) this.answers.close();
  }

  async createTable(): Promise<void> {
    this.creations += 1;
    this.deleted = false;
  }
  async submitTransaction(actions: Array<['create', AuditRow]>, abortSignal?: AbortSignal): Promise<void> {
    this.tries += 1;
    this.signals.push(abortSignal);
    await this.answers.pass();
    if (this.deleted) throw new RestError('TableNotFound', { statusCode: 404 });
    if (this.down) throw new RestError('Service Unavailable', { statusCode: 503, code: 'ServerBusy' });
    if (this.refuse !== undefined) throw new RestError('refused', { statusCode: this.refuse });
    if (actions.some(([, row]) => this.keys.has(row.rowKey)))
      throw new RestError('EntityAlreadyExists', { statusCode: 409 });
    for (const [, row] of actions) this.keys.add(row.rowKey);
    this.batches.push(actions.map(([, row]) => row));
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      throw new RestError('socket hang up', { code: 'ECONNRESET' });
    }
  }
}

/** A flush delay (which also paces retries) longer than any test: rows are written by flush() and close() only. */
const FLUSH_ONLY_WHEN_ASKED_MS = 10_000;
/** A flush delay short enough that held rows are tried again while a test waits for them. */
const RETRY_SOON_MS = 5;

describe('Class: TableAuditLog', () => {
  const decision = (timeMs: number, clientId = 'c'): AuditEntry => ({
    timeMs,
    clientId,
    scope: 'demo-token',
    protocol: 'oauth',
    outcome: 'issued',
    upstream: 'amlToken',
  });
  /** A decision refusing an unknown client (a made-up id, say), which names no upstream. */
  const denial = (timeMs: number, clientId: string): AuditEntry => ({
    ...decision(timeMs, clientId),
    outcome: 'denied',
    reason: 'InvalidClient',
    upstream: undefined,
  });
  const day = Date.parse('2026-11-23T10:00:00Z');
  let telemetry: CapturingTelemetry;
  beforeEach(() => {
    telemetry = new CapturingTelemetry();
  });
  const lossReports = () => telemetry.events.filter((e) => e.name === 'AuditRowsLost').map((e) => e.props);
  const at = (timeMs: number) => new Date(timeMs).toISOString();
  /** An `AuditRowsLost` report of `rows` issuances of one decision each, all at `timeMs`. */
  const issuancesLost = (rows: number, timeMs: number) => ({
    rows,
    decisions: rows,
    issuedRows: rows,
    issuedDecisions: rows,
    deniedRows: 0,
    deniedDecisions: 0,
    firstTime: at(timeMs),
    lastTime: at(timeMs),
  });
  /** A `buffer full` report of the decisions dropped between `firstMs` and `lastMs`, by outcome. */
  const bufferFullLoss = (
    dropped: { issued: number; denied: number },
    firstMs: number,
    lastMs = firstMs,
  ) => ({
    why: 'buffer full',
    decisions: dropped.issued + dropped.denied,
    issuedDecisions: dropped.issued,
    deniedDecisions: dropped.denied,
    firstTime: at(firstMs),
    lastTime: at(lastMs),
  });
  /** The log under test on `table`, reporting to this test's telemetry and a logger of its own. */
  const auditLogOn = (
    table: FakeTable,
    options: Omit<TableAuditLogOptions, 'table' | 'logger' | 'telemetry'>,
  ) => {
    const logger = new CapturingLogger();
    return { audit: new TableAuditLog({ table, logger, telemetry, ...options }), logger };
  };

  it('creates the table again when it was deleted while the app ran, and writes the rows it held', async () => {
    // Prepare: a first row written, then the table deleted (say, to drop old audit rows at once)
    const table = new FakeTable();
    const { audit } = auditLogOn(table, { flushDelayMs: 1 });
    audit.record(decision(day));
    await audit.flush();
    table.deleted = true;

    // Act
    audit.record(decision(day + 1000, 'after-delete'));
    await audit.flush();
    await waitFor('the held row to be written', () => table.batches.length === 2, { timeoutMs: 5000 });
    await audit.close();

    // Assess
    expect(table.creations).toBe(2);
    expect(table.batches[1]?.[0]).toMatchObject({ clientId: 'after-delete' });
    expect(lossReports()).toEqual([]);
  });

  it('writes identical decisions of one interval as one row that keeps every decision time, off the hot path', async () => {
    // Prepare
    const table = new FakeTable();
    const { audit } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS });

    // Act
    for (let i = 0; i < 250; i++) audit.record(decision(day + 2 * i));
    audit.record({ ...decision(day + 7), outcome: 'denied', reason: 'RateLimited', upstream: undefined });
    const writtenBeforeFlush = table.batches.length;
    await audit.close();

    // Assess
    expect(writtenBeforeFlush).toBe(0);
    expect(table.batches).toHaveLength(1);
    const [issued, denied] = table.batches[0] ?? [];
    expect(issued).toMatchObject({
      partitionKey: '2026-11-23',
      time: '2026-11-23T10:00:00.000Z',
      lastTime: '2026-11-23T10:00:00.498Z',
      count: 250,
      clientId: 'c',
      scope: 'demo-token',
      protocol: 'oauth',
      outcome: 'issued',
      upstream: 'amlToken',
    });
    expect(String(issued?.['offsetsMs']).split(',').map(Number)).toEqual(
      Array.from({ length: 250 }, (_, i) => 2 * i),
    );
    expect(denied).toMatchObject({
      time: '2026-11-23T10:00:00.007Z',
      count: 1,
      offsetsMs: '0',
      outcome: 'denied',
      reason: 'RateLimited',
    });
    expect(denied).not.toHaveProperty('upstream');
  });

  it('splits rows at 1000 decisions and by UTC day, and batches at most 100 rows per partition', async () => {
    // Prepare
    const table = new FakeTable();
    const { audit } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS });
    const midnight = Date.parse('2026-11-24T00:00:00Z');

    // Act
    for (let i = 0; i < 1500; i++) audit.record(decision(day + i));
    for (let i = 0; i < 250; i++) audit.record(decision(day, `client-${i}`));
    audit.record(decision(midnight - 1));
    audit.record(decision(midnight));
    await audit.close();

    // Assess
    const rows = table.batches.flat();
    expect(table.batches.map((b) => [b[0]?.partitionKey, b.length])).toEqual([
      ['2026-11-23', 100],
      ['2026-11-23', 100],
      ['2026-11-23', 52],
      ['2026-11-24', 1],
    ]);
    expect(rows.filter((r) => r['clientId'] === 'c').map((r) => r['count'])).toEqual([1000, 501, 1]);
    expect(rows.reduce((sum, r) => sum + Number(r['count']), 0)).toBe(1752);
    expect(new Set(rows.map((r) => r.rowKey)).size).toBe(rows.length);
  });

  it('keeps interleaved decisions apart, even when their fields differ only by where a NUL falls', async () => {
    // Prepare
    const table = new FakeTable();
    const { audit } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS });
    const a = { ...decision(day), clientId: 'a\u0000b', scope: 'c' };
    const b = { ...decision(day), clientId: 'a', scope: 'b\u0000c' };

    // Act
    for (let i = 0; i < 3; i++) {
      audit.record({ ...a, timeMs: day + i });
      audit.record({ ...b, timeMs: day + i });
    }
    await audit.close();

    // Assess
    const rows = table.batches.flat();
    expect(rows.map((r) => [r['clientId'], r['scope'], r['count'], r['offsetsMs']])).toEqual([
      ['a\u0000b', 'c', 3, '0,1,2'],
      ['a', 'b\u0000c', 3, '0,1,2'],
    ]);
  });

  it('keeps a decision apart from the one before it when any one field but the time differs', async () => {
    // Prepare: every field of a decision (a field added to AuditEntry must be named here to compile)
    const table = new FakeTable();
    const { audit } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS });
    const base: Required<AuditEntry> = {
      timeMs: day,
      clientId: 'c',
      scope: 'demo-token',
      protocol: 'oauth',
      outcome: 'denied',
      reason: 'UpstreamUnavailable',
      upstream: 'amlToken',
      failure: 'throttled',
    };
    const fields = Object.keys(base).filter((field) => field !== 'timeMs') as Array<
      Exclude<keyof AuditEntry, 'timeMs'>
    >;

    // Act: each variant right after the base decision, where the previous decision's group is checked first
    for (const field of fields) {
      audit.record(base);
      audit.record({
        ...base,
        [field]: field === 'protocol' ? 'msi' : field === 'outcome' ? 'issued' : 'other',
      });
    }
    await audit.close();

    // Assess: one row for the base decision, one per variant
    const rows = table.batches.flat();
    expect(rows).toHaveLength(fields.length + 1);
    expect(rows[0]?.['count']).toBe(fields.length);
  });

  it('cuts a client id or scope at 256 characters without splitting a surrogate pair', async () => {
    // Prepare: a row that half an emoji would make text no Table accepts for certain
    const table = new FakeTable();
    const audit = new TableAuditLog({
      table,
      logger: new CapturingLogger(),
      telemetry,
      flushDelayMs: 10_000,
    });
    const long = `${'s'.repeat(255)}\u{1F600}`;

    // Act
    audit.record({ ...decision(day, `${'c'.repeat(254)}\u{1F600}\u{1F600}`), scope: long });
    await audit.close();

    // Assess
    const [row] = table.batches.flat();
    expect(row?.['scope']).toBe('s'.repeat(255));
    expect(row?.['clientId']).toBe(`${'c'.repeat(254)}\u{1F600}`);
  });

  it('keeps every identical decision, and drops and counts only those that would start a decision beyond maxBuffered', async () => {
    // Prepare
    const table = new FakeTable();
    const { audit, logger } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS, maxBuffered: 3 });

    // Act: a busy client, two more, two that would be a fourth and fifth, and the busy client again
    for (let i = 0; i < 5000; i++) audit.record(decision(day + i, 'busy'));
    for (const clientId of ['b', 'c', 'made-up-1', 'made-up-2', 'busy'])
      audit.record(decision(day, clientId));
    await audit.flush();

    // Assess
    const rows = table.batches.flat();
    expect(new Set(rows.map((r) => r['clientId']))).toEqual(new Set(['busy', 'b', 'c']));
    expect(rows.reduce((sum, r) => sum + Number(r['count']), 0)).toBe(5003);
    expect(logger.lines).toEqual([
      { level: 'warn', message: 'record => buffer full, entries dropped', props: { dropped: 2 } },
    ]);
  });

  it('keeps an issuance when a flood of made-up client ids has filled the buffer with denials', async () => {
    // Prepare
    const table = new FakeTable();
    const { audit, logger } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS, maxBuffered: 3 });
    const refused = (clientId: string): AuditEntry => ({
      ...decision(day, clientId),
      outcome: 'denied',
      reason: 'InvalidClient',
    });

    // Act: unauthenticated requests with made-up ids, then a token issued (say, to a stolen secret)
    for (let i = 0; i < 10; i++) audit.record(refused(`made-up-${i}`));
    audit.record(decision(day + 1, 'stolen'));
    await audit.flush();

    // Assess: the issuance has its row; only denials were dropped
    const rows = table.batches.flat();
    expect(rows.filter((r) => r['outcome'] === 'issued').map((r) => r['clientId'])).toEqual(['stolen']);
    expect(rows.filter((r) => r['outcome'] === 'denied')).toHaveLength(3);
    expect(logger.lines).toEqual([
      { level: 'warn', message: 'record => buffer full, entries dropped', props: { dropped: 7 } },
    ]);
  });

  describe('while Table storage is slow but answering', () => {
    it('records the denials beyond half of maxHeldRows coarse, keeping every decision and time, and issuances exact', async () => {
      // Prepare: a write that has not answered yet, with four rows in it
      const table = new FakeTable();
      table.answers.close();
      const logger = new CapturingLogger();
      const audit = new TableAuditLog({ table, logger, telemetry, flushDelayMs: 10_000, maxHeldRows: 10 });
      for (let i = 0; i < 4; i++) audit.record(denial(day, `early-${i}`));
      void audit.flush();

      // Act: the next interval, a flood of made-up ids and a token issued, while those rows wait
      for (let i = 0; i < 6; i++) audit.record(denial(day + 1000 + i, `made-up-${i}`));
      audit.record(decision(day + 1003, 'stolen'));
      void audit.flush();
      table.answers.open();
      await audit.close();

      // Assess
      const rows = table.batches.flat();
      expect(rows.map((r) => [r['clientId'], r['scope'], r['count'], r['merged']])).toEqual([
        ['early-0', 'demo-token', 1, undefined],
        ['early-1', 'demo-token', 1, undefined],
        ['early-2', 'demo-token', 1, undefined],
        ['early-3', 'demo-token', 1, undefined],
        ['stolen', 'demo-token', 1, undefined],
        ['*', 'demo-token', 6, 6],
      ]);
      expect(rows.at(-1)).toMatchObject({
        offsetsMs: '0,1,2,3,4,5',
        reason: 'InvalidClient',
        outcome: 'denied',
      });
      expect(logger.lines).toEqual([
        {
          level: 'warn',
          message: 'flush => too many rows waiting, denials recorded coarse',
          props: { waitingRows: 4, freshRows: 7, merged: 6 },
        },
      ]);
      expect(lossReports()).toEqual([]);
    });

    it('holds no more than maxHeldRows rows, and loses the rest at once, counted in AuditDecisionsLost', async () => {
      // Prepare: issuances to different clients (never made coarse), behind a write that does not answer
      const table = new FakeTable();
      table.answers.close();
      const logger = new CapturingLogger();
      const audit = new TableAuditLog({ table, logger, telemetry, flushDelayMs: 10_000, maxHeldRows: 4 });

      // Act: two intervals of three rows each
      for (const interval of [0, 1]) {
        for (let i = 0; i < 3; i++) audit.record(decision(day + interval * 1000, `client-${interval}-${i}`));
        void audit.flush();
      }

      // Assess: the second interval's last two rows are lost at once, not queued
      expect(logger.lines.map((l) => [l.message, l.props])).toEqual([
        ['write => entries lost', { lost: 2, why: 'too many held' }],
      ]);
      // Storage answered every write so far, if slowly: no failure to name.
      expect(lossReports()).toEqual([{ why: 'too many held', ...issuancesLost(2, day + 1000) }]);
      expect(telemetry.metrics).toEqual([
        { name: 'AuditDecisionsLost', value: 2, props: { why: 'too many held' } },
      ]);
      table.answers.open();
      await audit.close();
      expect(table.batches.flat().map((r) => r['clientId'])).toEqual([
        'client-0-0',
        'client-0-1',
        'client-0-2',
        'client-1-0',
      ]);
    });
  });

  it('counts decisions dropped from a full buffer in AuditDecisionsLost, which log lines alone would not alert on', async () => {
    // Prepare
    const audit = new TableAuditLog({
      table: new FakeTable(),
      logger: new CapturingLogger(),
      telemetry,
      flushDelayMs: 10_000,
      maxBuffered: 1,
    });

    // Act
    for (const clientId of ['a', 'b', 'c']) audit.record(decision(day, clientId));
    await audit.close();

    // Assess
    expect(telemetry.metrics).toEqual([
      { name: 'AuditDecisionsLost', value: 2, props: { why: 'buffer full' } },
    ]);
  });

  it('sums up the decisions a full buffer dropped in one AuditRowsLost event per flush interval, by outcome and time', async () => {
    // Prepare: room for 2 different decisions of each outcome an interval
    const { audit } = auditLogOn(new FakeTable(), { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS, maxBuffered: 2 });

    // Act: an interval with a flood of made-up ids and too many different issuances, a quiet one, a third
    for (let i = 0; i < 500; i++) audit.record(denial(day + 10 + i, `made-up-${i}`));
    for (let i = 0; i < 5; i++) audit.record(decision(day + 20 + i, `client-${i}`));
    const recorded = lossReports().length;
    await audit.flush();
    audit.record(decision(day + 2000, 'client-0'));
    await audit.flush();
    audit.record(denial(day + 3000, 'a'));
    audit.record(denial(day + 3000, 'b'));
    audit.record(denial(day + 3005, 'c'));
    await audit.close();

    // Assess: nothing until the flush (record only counts), then one event each for the two intervals that
    // dropped, which names no client and no scope; those decisions never became rows
    expect(recorded).toBe(0);
    expect(lossReports()).toEqual([
      bufferFullLoss({ issued: 3, denied: 498 }, day + 12, day + 509),
      bufferFullLoss({ issued: 0, denied: 1 }, day + 3005),
    ]);
    expect(telemetry.metrics).toEqual([
      { name: 'AuditDecisionsLost', value: 501, props: { why: 'buffer full' } },
      { name: 'AuditDecisionsLost', value: 1, props: { why: 'buffer full' } },
    ]);
  });

  it('reports a full buffer at its flush, not behind a write Table storage has not answered yet', async () => {
    // Prepare: a write in progress that does not answer
    const table = new FakeTable({ silent: true });
    const { audit, logger } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS, maxBuffered: 1 });
    audit.record(decision(day, 'a'));
    void audit.flush();

    // Act: the next interval drops one
    audit.record(decision(day + 1000, 'b'));
    audit.record(decision(day + 1001, 'c'));
    void audit.flush();

    // Assess
    expect(lossReports()).toEqual([bufferFullLoss({ issued: 1, denied: 0 }, day + 1001)]);
    expect(logger.lines).toEqual([
      { level: 'warn', message: 'record => buffer full, entries dropped', props: { dropped: 1 } },
    ]);
    table.answers.open();
    await audit.close();
  });

  it('sums up the rows a Table outage loses in one AuditRowsLost event per flush, whatever the number of rows', async () => {
    // Prepare: storage down, with room for two held rows, which the first interval fills
    const table = new FakeTable({ down: true });
    const { audit } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS, maxHeldRows: 2 });
    audit.record(decision(day, 'held-1'));
    audit.record(decision(day, 'held-2'));
    await audit.flush();

    // Act: two more intervals of busy traffic, 300 different issuances and 500 made-up ids each
    for (const interval of [1, 2]) {
      const start = day + interval * 1000;
      for (let i = 0; i < 300; i++) audit.record(decision(start + i, `client-${i}`));
      audit.record(decision(start + 400, 'client-0'));
      for (let i = 0; i < 500; i++) audit.record(denial(start + 1 + i, `made-up-${i}`));
      await audit.flush();
    }

    // Assess: one event per interval, which names no client and no scope
    const lost = telemetry.events.filter((e) => e.name.startsWith('AuditRow'));
    expect(lost).toEqual(
      [1, 2].map((interval) => ({
        name: 'AuditRowsLost',
        props: {
          why: 'too many held',
          rows: 301,
          decisions: 801,
          issuedRows: 300,
          issuedDecisions: 301,
          deniedRows: 1,
          deniedDecisions: 500,
          firstTime: at(day + interval * 1000),
          lastTime: at(day + interval * 1000 + 500),
          error: 'RestError',
          status: 503,
          code: 'ServerBusy',
        },
      })),
    );
    expect(telemetry.metrics).toEqual([
      { name: 'AuditDecisionsLost', value: 801, props: { why: 'too many held' } },
      { name: 'AuditDecisionsLost', value: 801, props: { why: 'too many held' } },
    ]);
    expect(telemetry.text()).not.toMatch(/client-|made-up|demo-token/);
    await audit.close();
  });

  it('keeps the rows while Table storage fails and writes each once, in order, when it is back', async () => {
    // Prepare
    const table = new FakeTable({ down: true });
    const { audit, logger } = auditLogOn(table, { flushDelayMs: RETRY_SOON_MS });

    // Act: one write fails, the next interval's decisions queue behind it, then storage recovers
    for (let i = 0; i < 3; i++) audit.record(decision(day + i));
    await audit.flush();
    audit.record(decision(day + 10, 'later'));
    await audit.flush();
    const whileDown = { written: table.batches.length, tries: table.tries };
    table.down = false;
    await waitFor('the held rows to be written', () => table.batches.length > 0, {
      intervalMs: RETRY_SOON_MS,
      timeoutMs: 5000,
    });
    await audit.close();

    // Assess
    expect(whileDown).toEqual({ written: 0, tries: 1 });
    const rows = table.batches.flat();
    expect(rows.map((r) => [r['clientId'], r['count']])).toEqual([
      ['c', 3],
      ['later', 1],
    ]);
    expect(logger.lines.map((l) => [l.level, l.message])).toEqual([
      ['warn', 'write => storage failing, entries held for retry'],
      ['info', 'write => storage back, held entries written'],
    ]);
    expect(logger.lines[0]?.props).toMatchObject({ held: 3, status: 503, error: 'RestError' });
  });

  it('counts a batch whose earlier try landed, though its answer was lost, as written', async () => {
    // Prepare: the write lands and the connection drops before the answer; the retry meets its own rows
    const table = new FakeTable({ loseNextAnswer: true });
    const { audit, logger } = auditLogOn(table, { flushDelayMs: RETRY_SOON_MS });

    // Act
    audit.record(decision(day));
    await audit.flush();
    await waitFor('the retry', () => table.tries >= 2, { intervalMs: RETRY_SOON_MS, timeoutMs: 5000 });
    await audit.close();

    // Assess
    expect(table.batches.flat().map((r) => r['count'])).toEqual([1]);
    expect(logger.lines.map((l) => l.message)).toEqual([
      'write => storage failing, entries held for retry',
      'write => storage back, held entries written',
    ]);
  });

  it('holds a write that does not answer within writeTimeLimitMs for another try, and counts it once when it lands late', async () => {
    // Prepare
    const table = new FakeTable({ silent: true });
    const { audit, logger } = auditLogOn(table, { flushDelayMs: RETRY_SOON_MS, writeTimeLimitMs: 30 });
    audit.record(decision(day, 'silent'));

    // Act: the write gets no answer; later it lands after all, and the next try meets its own rows
    await audit.flush();
    table.answers.open();
    await waitFor('the retry', () => logger.lines.length === 2);
    audit.record(decision(day, 'after'));
    await audit.flush();

    // Assess
    expect(logger.lines.map((l) => [l.message, l.props?.['error']])).toEqual([
      ['write => storage failing, entries held for retry', 'TimeLimitError'],
      ['write => storage back, held entries written', undefined],
    ]);
    expect(table.batches.flat().map((r) => r['clientId'])).toEqual(['silent', 'after']);
    expect(lossReports()).toEqual([]);
  });

  it('gives a write up at writeTimeLimitMs: its signal fires, so its request ends too; one answered keeps its signal', async () => {
    // Prepare
    const table = new FakeTable({ silent: true });
    const { audit } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS, writeTimeLimitMs: 30 });
    audit.record(decision(day, 'silent'));

    // Act: the write gets no answer; the table answers the next try (the close's)
    await audit.flush();
    table.answers.open();
    await audit.close();
    await new Promise((resolve) => setTimeout(resolve, 60));

    // Assess: the second signal outlived its time limit unfired
    expect(table.signals.map((signal) => signal?.aborted)).toEqual([true, false]);
    expect(table.signals[0]?.reason).toMatchObject({ name: 'TimeLimitError', limitMs: 30 });
  });

  it('aborts the write in progress when close stops waiting for it at closeTimeoutMs, long before writeTimeLimitMs', async () => {
    // Prepare
    const table = new FakeTable({ silent: true });
    const { audit } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS, closeTimeoutMs: 20 });
    audit.record(decision(day, 'silent'));

    // Act
    await audit.close();

    // Assess: its rows were reported lost, and its request is not left to run on for 30 s
    expect(lossReports()).toEqual([{ why: 'closed', ...issuancesLost(1, day), error: 'TimeLimitError' }]);
    expect(table.signals.map((signal) => signal?.aborted)).toEqual([true]);
    expect(table.signals[0]?.reason).toMatchObject({ name: 'TimeLimitError', limitMs: 20 });
  });

  it('loses a batch the table refuses outright, and rows beyond maxHeldRows, saying how many decisions', async () => {
    // Prepare
    const refusing = new FakeTable({ refuse: 400 });
    const full = new FakeTable({ down: true });
    const logger = new CapturingLogger();
    const refusingLog = new TableAuditLog({
      table: refusing,
      logger,
      telemetry,
      flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS,
    });
    const fullLog = new TableAuditLog({
      table: full,
      logger,
      telemetry,
      flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS,
      maxHeldRows: 100,
    });

    // Act
    refusingLog.record(decision(day));
    await refusingLog.flush();
    for (let i = 0; i < 150; i++) fullLog.record(decision(day, `client-${i}`));
    await fullLog.flush();

    // Assess
    expect(refusing.tries).toBe(1);
    expect(logger.lines.filter((l) => l.message === 'write => entries lost').map((l) => l.props)).toEqual([
      { lost: 1, why: 'refused' },
      { lost: 50, why: 'too many held' },
    ]);
    expect(lossReports()).toEqual([
      { why: 'refused', ...issuancesLost(1, day), error: 'RestError', status: 400 },
      // More rows at once than maxHeldRows, lost before storage was tried: no failure to name.
      { why: 'too many held', ...issuancesLost(50, day) },
    ]);
    await refusingLog.close();
    full.down = false;
    await fullLog.close();
    expect(full.batches.flat()).toHaveLength(100);
  });

  it('tries the held rows once more on close, then counts the decisions still lost and sums up their rows in one event', async () => {
    // Prepare
    const table = new FakeTable({ down: true });
    const { audit, logger } = auditLogOn(table, { flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS });
    for (let i = 0; i < 4; i++) audit.record(decision(day + i));
    await audit.flush();

    // Act
    await audit.close();

    // Assess
    expect(table.tries).toBe(2);
    expect(logger.lines.at(-1)).toMatchObject({
      level: 'error',
      message: 'write => entries lost',
      props: { lost: 4, why: 'closed' },
    });
    // The loss goes to telemetry (never sampled) with when its decisions were made and why storage failed.
    expect(lossReports()).toEqual([
      {
        why: 'closed',
        rows: 1,
        decisions: 4,
        issuedRows: 1,
        issuedDecisions: 4,
        deniedRows: 0,
        deniedDecisions: 0,
        firstTime: at(day),
        lastTime: at(day + 3),
        error: 'RestError',
        status: 503,
        code: 'ServerBusy',
      },
    ]);
    expect(telemetry.metrics).toEqual([{ name: 'AuditDecisionsLost', value: 4, props: { why: 'closed' } }]);
  });

  it.each([
    ['lands', undefined],
    ['is refused', 400],
  ])(
    'gives up what is unwritten when Table storage does not answer within closeTimeoutMs, and only once (the late write %s)',
    async (_late, refusal) => {
      // Prepare
      const table = new FakeTable({ silent: true });
      const { audit, logger } = auditLogOn(table, {
        flushDelayMs: FLUSH_ONLY_WHEN_ASKED_MS,
        closeTimeoutMs: 50,
      });
      audit.record(decision(day, 'being-written'));
      void audit.flush();
      audit.record(decision(day, 'waiting'));

      // Act
      const started = Date.now();
      await audit.close();
      const closedAfterMs = Date.now() - started;
      table.refuse = refusal;
      table.answers.open();
      await settle(); // the late answer is taken

      // Assess: both rows given up at close; the late answer adds nothing and no retry
      expect(closedAfterMs).toBeLessThan(2000);
      expect(logger.lines.map((l) => [l.message, l.props])).toEqual([
        ['write => entries lost', { lost: 2, why: 'closed' }],
      ]);
      expect(lossReports()).toEqual([{ why: 'closed', ...issuancesLost(2, day), error: 'TimeLimitError' }]);
      expect(table.tries).toBe(1);
    },
  );
});
