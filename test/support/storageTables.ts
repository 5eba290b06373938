import { TableClient, TableServiceClient } from '@azure/data-tables';

import type { RotationState } from '../../shared/rotation/RotationJournal';

const insecure = { allowInsecureConnection: true };

/**
 * Reads the rotation journal from outside the app, the way an operator would look at the table: the
 * per-endpoint `state` row and the `step|…` rows (layout of `TableRotationJournal`).
 * @param tablePrefix - the app's `TABLE_PREFIX` @default 'amlcb'
 */
export function journalReader(connectionString: string, tablePrefix = 'amlcb') {
  const table = TableClient.fromConnectionString(connectionString, `${tablePrefix}RotationJournal`, insecure);
  return {
    /** The endpoint's state row (empty before its first rotation). */
    async state(endpointId: string): Promise<RotationState> {
      try {
        const row = await table.getEntity<{ state: string }>(endpointId, 'state');
        return JSON.parse(row.state) as RotationState;
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return {};
        throw error;
      }
    },
    /** The step rows of one endpoint, oldest first. */
    async steps(endpointId: string): Promise<Array<{ rotationId: string; step: string; at: string }>> {
      const rows: Array<{ rotationId: string; step: string; at: string }> = [];
      const filter = `PartitionKey eq '${endpointId}' and RowKey ge 'step|' and RowKey lt 'step}'`;
      for await (const row of table.listEntities<{ rotationId: string; step: string; at: string }>({
        queryOptions: { filter },
      }))
        rows.push({ rotationId: row.rotationId, step: row.step, at: row.at });
      return rows.sort((a, b) => a.at.localeCompare(b.at));
    },
  };
}

/** Every row of every table in the storage account, as JSON text (for "no secret in a table row" scans). */
export async function allTableRowsText(connectionString: string): Promise<string> {
  const service = TableServiceClient.fromConnectionString(connectionString, insecure);
  const parts: string[] = [];
  for await (const t of service.listTables()) {
    if (!t.name) continue;
    const table = TableClient.fromConnectionString(connectionString, t.name, insecure);
    for await (const row of table.listEntities()) parts.push(JSON.stringify(row));
  }
  return parts.join('\n');
}
