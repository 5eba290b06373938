import { RestError } from '@azure/core-rest-pipeline';

import { SecretHasher } from '../../../shared/broker/SecretHasher';
import { TableBrokerClientRegistry } from '../../../shared/broker/TableBrokerClientRegistry';
import { DependencyUnavailableError } from '../../../shared/errors';
import { PagedTable } from '../../fakes/PagedTable';
import { clientRecord } from '../../support/clientRecords';

const hasher = new SecretHasher('unit-pepper-0123456789-abcdefghijklmnop');

describe('Class: TableBrokerClientRegistry (Method: listPage)', () => {
  /** A table of `count` clients (ids with upper case, digits, `.` and `_`), as the registry writes them. */
  async function seeded(count: number): Promise<{ table: PagedTable; ids: string[] }> {
    const table = new PagedTable();
    const writer = new TableBrokerClientRegistry({
      table: Object.assign(table.asTableClient(), {
        createEntity: async (row: { partitionKey: string; rowKey: string }) => table.add(row),
      }),
    });
    const ids = Array.from(
      { length: count },
      (_, i) => `${i % 2 ? 'App' : 'app'}.${String(i).padStart(3, '0')}_x`,
    );
    for (const id of ids) await writer.create(clientRecord(id, hasher));
    return { table, ids };
  }

  it.each([
    [1, 1000],
    [4, 3],
    [50, 1000],
  ])(
    'walks every client exactly once in key order ($top %i, storage answering %i rows at most)',
    async (top, limit) => {
      // Prepare
      const { table, ids } = await seeded(17);
      table.serverPageLimit = limit;
      table.emptyAnswers = 1;
      const registry = new TableBrokerClientRegistry({ table: table.asTableClient() });

      // Act
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      do {
        const page = await registry.listPage(after === undefined ? { top } : { top, after });
        expect(page.items.length).toBeLessThanOrEqual(top);
        seen.push(...page.items.map((c) => c.id));
        after = page.after;
      } while (after !== undefined && ++pages < 100);

      // Assess: code point order (upper case first), as Table storage orders keys
      expect(seen).toEqual([...ids].sort());
      expect(Math.max(...table.asked)).toBeLessThanOrEqual(top);
    },
  );

  it('answers a storage failure as the registry being unavailable', async () => {
    // Prepare
    const { table } = await seeded(3);
    const registry = new TableBrokerClientRegistry({
      table: Object.assign(table.asTableClient(), {
        listEntities: () => ({
          byPage: () => ({
            next: () => Promise.reject(new RestError('Service Unavailable', { statusCode: 503 })),
          }),
        }),
      }),
    });

    // Act
    const error = await registry.listPage({ top: 5 }).catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(DependencyUnavailableError);
  });
});
