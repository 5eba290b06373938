import type { TableClient } from '@azure/data-tables';

import { TableEndpointRegistry } from '../../../shared/endpoints/TableEndpointRegistry';
import { ConfigError } from '../../../shared/errors';
import { EndpointReadOnlyError } from '../../../shared/rotation/errors';

const rules = { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 };
const arm = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'ep1' };
/** File entries are answered before the table is touched; a table that throws proves it. */
const unusedTable = {
  createTable: async () => Promise.reject(new Error('table not expected')),
} as unknown as TableClient;

describe('Class: TableEndpointRegistry', () => {
  it('serves ENDPOINTS_FILE entries read-only', async () => {
    // Prepare
    const registry = new TableEndpointRegistry({
      table: unusedTable,
      rules,
      endpointsFile: 'endpoints.json',
      now: () => '2026-01-01T00:00:00.000Z',
      readText: async () => JSON.stringify({ endpoints: [{ id: 'file-one', arm }] }),
    });

    // Act
    const found = await registry.get('file-one');

    // Assess
    expect(found).toMatchObject({ id: 'file-one', secretName: 'file-one-key', gracePeriodHours: 25 });
    await expect(registry.create(found!)).rejects.toThrow(EndpointReadOnlyError);
    await expect(registry.replace(found!, 'file')).rejects.toThrow(EndpointReadOnlyError);
    await expect(registry.delete('file-one')).rejects.toThrow(EndpointReadOnlyError);
  });

  it('names every bad entry and field of a bad file', async () => {
    const registry = new TableEndpointRegistry({
      table: unusedTable,
      rules,
      endpointsFile: 'endpoints.json',
      now: () => '',
      readText: async () =>
        JSON.stringify([
          { id: 'ok-one', arm },
          { id: 'ok-one', arm },
          { id: 'x', arm, gracePeriodHours: 1 },
          { id: 'ok-two', arm, secretName: 'OK-ONE-KEY' },
        ]),
    });
    const error = await registry.get('ok-one').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.field)).toEqual([
      'ENDPOINTS_FILE[1].id',
      'ENDPOINTS_FILE[2].id',
      'ENDPOINTS_FILE[2].gracePeriodHours',
      'ENDPOINTS_FILE[3].secretName',
    ]);
    expect((error as ConfigError).issues[3]?.message).toBe('is also the secret of ok-one');
  });
});
