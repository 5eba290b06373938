import { DependencyUnavailableError } from '../../../shared/errors';
import {
  type ProcessedEventsTable,
  TableProcessedEventStore,
} from '../../../shared/events/TableProcessedEventStore';
import { silentLogger } from '../../../shared/logging';
import { settle } from '../../support/waitFor';

/** A Map-backed table with the TableClient's 404/409 semantics. */
class FakeTable implements ProcessedEventsTable {
  readonly rows = new Map<string, Record<string, unknown>>();
  down = false;
  /** The abort signal each read and insert was handed, in call order. */
  readonly signals: Array<AbortSignal | undefined> = [];
  async createTable() {
    return undefined;
  }
  async getEntity(pk: string, rk: string, options: { abortSignal?: AbortSignal } = {}) {
    this.signals.push(options.abortSignal);
    if (this.down) throw Object.assign(new Error('ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const row = this.rows.get(`${pk}|${rk}`);
    if (!row) throw Object.assign(new Error('not found'), { statusCode: 404 });
    return row;
  }
  async createEntity(
    entity: Record<string, unknown> & { partitionKey: string; rowKey: string },
    options: { abortSignal?: AbortSignal } = {},
  ) {
    this.signals.push(options.abortSignal);
    const key = `${entity.partitionKey}|${entity.rowKey}`;
    if (this.rows.has(key)) throw Object.assign(new Error('exists'), { statusCode: 409 });
    this.rows.set(key, entity);
    return undefined;
  }
  async deleteEntity(pk: string, rk: string) {
    this.rows.delete(`${pk}|${rk}`);
    return undefined;
  }
  async *listEntities(options: { queryOptions: { filter: string } }) {
    const cutoff = /PartitionKey lt '([^']+)'/.exec(options.queryOptions.filter)?.[1] ?? '';
    for (const row of [...this.rows.values()]) {
      const pk = String(row['partitionKey']);
      if (pk < cutoff) yield { partitionKey: pk, rowKey: String(row['rowKey']) };
    }
  }
}

const at = (iso: string) => new Date(iso);

/** A store over `table` at time 0 that never purges in the background. */
const storeOver = (table: FakeTable) =>
  new TableProcessedEventStore({
    table,
    clock: { now: () => 0 },
    logger: silentLogger,
    purgeIntervalMs: 1e15,
  });

describe('Class: TableProcessedEventStore', () => {
  describe('Method: markProcessed / has', () => {
    it('remembers an event under the day of its own time, with a key-safe row key', async () => {
      // Prepare
      const table = new FakeTable();
      const store = storeOver(table);

      // Act
      await store.markProcessed({
        id: 'a/b?c#d',
        type: 'T',
        eventTime: at('2026-11-20T10:00:00Z'),
        outcome: 'ok',
      });
      await store.markProcessed({
        id: 'a/b?c#d',
        type: 'T',
        eventTime: at('2026-11-20T11:00:00Z'),
        outcome: 'again',
      });

      // Assess
      expect(await store.has('a/b?c#d', at('2026-11-20T23:59:00Z'))).toBe(true);
      expect(await store.has('other', at('2026-11-20T10:00:00Z'))).toBe(false);
      expect([...table.rows.keys()]).toEqual(['2026-11-20|a%2Fb%3Fc%23d']);
    });

    it('keeps at most 256 characters of the event type, never half of a surrogate pair', async () => {
      // Prepare: the 256th code unit is the first half of an emoji.
      const table = new FakeTable();
      const store = storeOver(table);
      const type = `${'T'.repeat(255)}\u{1F511}tail`;

      // Act
      await store.markProcessed({ id: 'e1', type, eventTime: at('2026-11-20T10:00:00Z'), outcome: 'ok' });

      // Assess
      const [row] = [...table.rows.values()];
      expect(row?.['eventType']).toBe('T'.repeat(255));
    });

    it('reports an unreachable table as DependencyUnavailableError (the webhook answers 503)', async () => {
      // Prepare
      const table = new FakeTable();
      table.down = true;
      const store = new TableProcessedEventStore({ table, clock: { now: () => 0 }, logger: silentLogger });

      // Act + Assess
      await expect(store.has('x', at('2026-11-20T10:00:00Z'))).rejects.toThrow(DependencyUnavailableError);
    });

    it("hands the delivery's signal to the read and the insert, and gives up a table creation that hangs", async () => {
      // Prepare
      const table = new FakeTable();
      const store = storeOver(table);
      const signal = new AbortController().signal;
      const time = at('2026-11-20T10:00:00Z');
      const hung = new FakeTable();
      hung.createTable = () => new Promise<undefined>(() => undefined);
      const giveUp = new AbortController();

      // Act
      await store.has('e1', time, signal);
      await store.markProcessed({ id: 'e1', type: 'T', eventTime: time, outcome: 'ok' }, signal);
      const waiting = storeOver(hung).has('e1', time, giveUp.signal);
      giveUp.abort(new Error('out of time'));

      // Assess
      expect(table.signals).toEqual([signal, signal]);
      await expect(waiting).rejects.toThrow(DependencyUnavailableError);
    });
  });

  describe('Method: purgeOlderThan', () => {
    it('deletes only rows of days before the cutoff, and runs lazily after a write', async () => {
      // Prepare
      const table = new FakeTable();
      const now = Date.parse('2026-11-23T12:00:00Z');
      const store = new TableProcessedEventStore({
        table,
        clock: { now: () => now },
        logger: silentLogger,
        retentionDays: 2,
      });
      await table.createEntity({ partitionKey: '2026-11-19', rowKey: 'old' });
      await table.createEntity({ partitionKey: '2026-11-22', rowKey: 'recent' });

      // Act: the first write triggers a background purge with cutoff 2026-11-21
      await store.markProcessed({ id: 'new', type: 'T', eventTime: new Date(now), outcome: 'ok' });
      await settle();

      // Assess
      expect([...table.rows.keys()].sort()).toEqual(['2026-11-22|recent', '2026-11-23|new']);
    });
  });
});
