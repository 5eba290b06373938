import { createDefaultHttpClient } from '@azure/core-rest-pipeline';
import { TableClient } from '@azure/data-tables';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { AuditRow } from '../../shared/broker/auditRows';
import { TableAuditLog } from '../../shared/broker/TableAuditLog';
import { TableBatchInserts } from '../../shared/broker/TableBatchInserts';
import { CapturingLogger, CapturingTelemetry } from '../fakes/capture';
import { FlakyTableWrites } from '../support/FlakyTableWrites';
import { waitFor } from '../support/waitFor';

/** The hand-built `$batch` insert against Azurite through the real TableClient pipeline (shared key). */
describe('Class: TableBatchInserts', () => {
  let azurite: RunningAzurite;
  let client: TableClient;
  let inserts: TableBatchInserts;

  beforeAll(async () => {
    azurite = await startAzurite();
    client = TableClient.fromConnectionString(azurite.connectionString, `batch${Date.now() % 100000}`, {
      allowInsecureConnection: true,
    });
    inserts = new TableBatchInserts(client, createDefaultHttpClient());
    await inserts.createTable();
  }, 60_000);

  afterAll(async () => {
    await azurite?.stop();
  });

  const row = (i: number): AuditRow => ({
    partitionKey: '2026-12-01',
    rowKey: `${String(i).padStart(6, '0')}-bench`,
    clientId: 'client "quoted" ünïcode',
    scope: 'bench-token',
    outcome: 'issued',
  });

  describe('Method: submitTransaction', () => {
    it('inserts a full batch of 100 rows with their properties intact', async () => {
      // Act
      await inserts.submitTransaction(
        Array.from({ length: 100 }, (_, i) => ['create', row(i)] as ['create', AuditRow]),
      );

      // Assess
      const stored = await rowsOf(client);
      expect(stored).toHaveLength(100);
      expect(stored[42]).toMatchObject({
        partitionKey: '2026-12-01',
        rowKey: '000042-bench',
        clientId: 'client "quoted" ünïcode',
        scope: 'bench-token',
        outcome: 'issued',
      });
    });

    it('refuses the whole batch when one insert conflicts, and writes none of it', async () => {
      // Prepare: row 5 exists from the first test
      const actions = [row(1000), row(5), row(1001)].map((r) => ['create', r] as ['create', AuditRow]);

      // Act and assess
      await expect(inserts.submitTransaction(actions)).rejects.toMatchObject({
        name: 'RestError',
        statusCode: 409,
      });
      await expect(client.getEntity('2026-12-01', '001000-bench')).rejects.toMatchObject({ statusCode: 404 });
    });
  });

  describe('Class: TableAuditLog over it', () => {
    /** A new table whose writes fail on demand; one SDK retry, quickly, so "down" outlasts the SDK's own retries. */
    const flakyTable = (prefix: string) => {
      const flaky = new FlakyTableWrites();
      const auditClient = TableClient.fromConnectionString(
        azurite.connectionString,
        `${prefix}${Date.now() % 100000}`,
        {
          allowInsecureConnection: true,
          retryOptions: { maxRetries: 1, retryDelayInMs: 10 },
          additionalPolicies: [{ policy: flaky.policy, position: 'perRetry' }],
        },
      );
      return { flaky, auditClient };
    };

    it('loses no decision through a storage outage or a lost answer, and writes each exactly once', async () => {
      // Prepare
      const { flaky, auditClient } = flakyTable('audit');
      const logger = new CapturingLogger();
      const audit = new TableAuditLog({
        table: new TableBatchInserts(auditClient, createDefaultHttpClient()),
        logger,
        telemetry: new CapturingTelemetry(),
        flushDelayMs: 20,
      });
      const decide = (clientId: string) =>
        audit.record({
          timeMs: Date.now(),
          clientId,
          scope: 'demo-token',
          protocol: 'oauth',
          outcome: 'issued',
        });

      // Act: decisions during an outage, then one whose write lands but whose answer is lost
      flaky.down = true;
      for (let i = 0; i < 5; i++) decide('during-outage');
      await audit.flush();
      decide('queued-behind');
      await audit.flush();
      flaky.down = false;
      flaky.dropNextAnswer();
      const decisions = async () =>
        (await rowsOf(auditClient)).reduce((sum, r) => sum + Number(r['count']), 0);
      await waitFor('the held rows', async () => (await decisions()) === 6, { timeoutMs: 10_000 });
      decide('after');
      await audit.close();

      // Assess
      const rows = await rowsOf(auditClient);
      expect(rows.map((r) => [r['clientId'], r['count']])).toEqual([
        ['during-outage', 5],
        ['queued-behind', 1],
        ['after', 1],
      ]);
      expect(flaky.pending).toBe(false);
      expect(logger.lines.map((l) => l.message)).toEqual([
        'write => storage failing, entries held for retry',
        'write => storage back, held entries written',
      ]);
    });

    it('stores a scope cut at 256 characters as whole characters, where half an emoji went in as written', async () => {
      // Prepare: Azurite stores a lone surrogate as sent; Table storage need not, and would refuse the batch
      const { auditClient } = flakyTable('cut');
      const audit = new TableAuditLog({
        table: new TableBatchInserts(auditClient, createDefaultHttpClient()),
        logger: new CapturingLogger(),
        telemetry: new CapturingTelemetry(),
        flushDelayMs: 10_000,
      });

      // Act
      audit.record({
        timeMs: Date.now(),
        clientId: 'unregistered:0123456789abcdef',
        scope: `${'s'.repeat(255)}\u{1F600}`,
        protocol: 'oauth',
        outcome: 'denied',
        reason: 'ScopeNotAllowed',
      });
      await audit.close();

      // Assess
      const [row] = await rowsOf(auditClient);
      expect(row?.['scope']).toBe('s'.repeat(255));
    });

    it('sums up the rows that miss the table at close in one event: the times the table stores and the failure code', async () => {
      // Prepare: the same decisions for two audit logs over one table, the first closing during an outage
      const { flaky, auditClient } = flakyTable('closing');
      const telemetry = new CapturingTelemetry();
      const auditLog = () =>
        new TableAuditLog({
          table: new TableBatchInserts(auditClient, createDefaultHttpClient()),
          logger: new CapturingLogger(),
          telemetry,
          flushDelayMs: 10_000,
        });
      const closing = auditLog();
      const stored = auditLog();
      const timeMs = Date.now();
      for (const audit of [closing, stored]) {
        for (const offset of [0, 7]) {
          audit.record({
            timeMs: timeMs + offset,
            clientId: 'client with spaces=and "quotes"',
            scope: 'demo-token',
            protocol: 'msi',
            outcome: 'denied',
            reason: 'ScopeNotAllowed',
          });
        }
      }

      // Act
      flaky.down = true;
      await closing.close();
      flaky.down = false;
      await stored.close();

      // Assess: the row the second log stored is the one the first lost, as far as the event tells
      const [row] = await rowsOf(auditClient);
      expect(row).toMatchObject({ count: 2, offsetsMs: '0,7', clientId: 'client with spaces=and "quotes"' });
      expect(telemetry.events).toEqual([
        {
          name: 'AuditRowsLost',
          props: {
            why: 'closed',
            rows: 1,
            decisions: 2,
            issuedRows: 0,
            issuedDecisions: 0,
            deniedRows: 1,
            deniedDecisions: 2,
            firstTime: row?.['time'],
            lastTime: row?.['lastTime'],
            error: 'RestError',
            status: undefined,
            code: 'ECONNREFUSED',
          },
        },
      ]);
      expect(telemetry.metrics).toEqual([{ name: 'AuditDecisionsLost', value: 2, props: { why: 'closed' } }]);
      expect(telemetry.text()).not.toContain('quotes');
    });
  });
});

async function rowsOf(client: TableClient): Promise<Array<Record<string, unknown>>> {
  const rows: Array<Record<string, unknown>> = [];
  for await (const entity of client.listEntities()) rows.push(entity);
  return rows;
}
