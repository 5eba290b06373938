import { TableClient } from '@azure/data-tables';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { AuditRow } from '../../shared/broker/TableAuditLog';
import { TableBatchInserts } from '../../shared/broker/TableBatchInserts';

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
    inserts = new TableBatchInserts(client);
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
      const stored: Array<Record<string, unknown>> = [];
      for await (const entity of client.listEntities()) stored.push(entity);
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
});
