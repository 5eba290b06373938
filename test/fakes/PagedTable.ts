import type { TableClient } from '@azure/data-tables';

type Row = Record<string, unknown> & { partitionKey: string; rowKey: string };

/**
 * The part of a `TableClient` that paged reads use, over rows in memory: `listEntities(...).byPage`
 * with the SDK's `maxPageSize` and `continuationToken`, `select`, filters of the shape the registries
 * send (`PartitionKey eq`, `RowKey gt`/`lt`, joined by `and`), point reads (`getEntity`, a 404 for
 * a row not there), inserts (`createEntity`, a 409 for a row there) and transactions of inserts and replaces. Rows come in key order. Like Table storage, an answer may be cut short while rows
 * are left: at `serverPageLimit` rows, or empty (with a continuation) for each request `emptyAnswers`
 * still counts, as after a 5-second query limit. Iterating `listEntities(...)` itself reads every
 * matching row and is counted in `asked` as a request for `Infinity`.
 */
export class PagedTable {
  readonly rows = new Map<string, Row>();
  serverPageLimit = 1000;
  emptyAnswers = 0;
  /** The `maxPageSize` of each request, for "never asks for more than it keeps" checks. */
  readonly asked: number[] = [];
  /** The row key and abort signal of each point read, in call order. */
  readonly pointReads: Array<{ rowKey: string; abortSignal: AbortSignal | undefined }> = [];

  add(row: Row): void {
    this.rows.set(`${row.partitionKey}\u0000${row.rowKey}`, row);
  }

  asTableClient(): TableClient {
    return this as unknown as TableClient;
  }

  async createTable(): Promise<void> {}

  async getEntity(
    partitionKey: string,
    rowKey: string,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<Row & { etag: string }> {
    this.pointReads.push({ rowKey, abortSignal: options.abortSignal });
    const row = this.rows.get(`${partitionKey}\u0000${rowKey}`);
    if (!row) throw Object.assign(new Error('ResourceNotFound'), { statusCode: 404 });
    return { ...row, etag: 'e' };
  }

  /** An insert, as Table storage answers it: a 409 when the row is there. */
  async createEntity(row: Row): Promise<void> {
    if (this.rows.has(keyOf(row))) throw Object.assign(new Error('EntityAlreadyExists'), { statusCode: 409 });
    this.add({ ...row });
  }

  /**
   * A transaction of inserts and replaces, all or none, as Table storage answers it: a 409 for an insert of
   * a row there, a 404 for a replace of a row not there. Every row's ETag is `e`, so `If-Match` holds.
   */
  async submitTransaction(actions: Array<['create', Row] | ['update', Row, ...unknown[]]>): Promise<void> {
    for (const [kind, row] of actions) {
      const there = this.rows.has(keyOf(row));
      if (kind === 'create' && there)
        throw Object.assign(new Error('EntityAlreadyExists'), { statusCode: 409 });
      if (kind === 'update' && !there)
        throw Object.assign(new Error('ResourceNotFound'), { statusCode: 404 });
    }
    for (const [, row] of actions) this.add({ ...row });
  }

  listEntities(options: { queryOptions?: { filter?: string; select?: string[] } } = {}) {
    const matches = rowFilter(options.queryOptions?.filter ?? '');
    const select = options.queryOptions?.select;
    const pages = (settings: { maxPageSize?: number; continuationToken?: string } = {}) =>
      this.pages(matches, select, settings.maxPageSize ?? 1000, settings.continuationToken);
    return {
      byPage: pages,
      [Symbol.asyncIterator]: async function* () {
        for await (const page of pages({ maxPageSize: Infinity })) yield* page;
      },
    };
  }

  private async *pages(
    matches: (row: Row) => boolean,
    select: string[] | undefined,
    maxPageSize: number,
    token?: string,
  ) {
    let from = token === undefined ? undefined : (JSON.parse(token) as { next: string }).next;
    for (;;) {
      this.asked.push(maxPageSize);
      const left = [...this.rows.values()]
        .filter(matches)
        .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1))
        .filter((row) => from === undefined || keyOf(row) >= from);
      const size = this.emptyAnswers > 0 && left.length > 0 ? (this.emptyAnswers--, 0) : maxPageSize;
      const page = left
        .slice(0, Math.min(size, this.serverPageLimit))
        .map((row) => ({ ...(select ? project(row, select) : row), etag: 'e' }));
      const next = left[page.length];
      from = next && keyOf(next);
      yield Object.assign(page, next ? { continuationToken: JSON.stringify({ next: from }) } : {});
      if (!next) return;
    }
  }
}

/** Only the selected properties, as Table storage answers a `$select` (keys too only when named). */
function project(row: Row, select: string[]): Partial<Row> {
  return Object.fromEntries(Object.entries(row).filter(([name]) => select.includes(name)));
}

function keyOf(row: Row): string {
  return `${row.partitionKey}\u0000${row.rowKey}`;
}

/** The filter as a predicate; a clause it does not know fails the test rather than matching all. */
function rowFilter(filter: string): (row: Row) => boolean {
  const tests = filter.split(' and ').map((clause) => {
    const m = /^(PartitionKey|RowKey) (eq|gt|lt) '((?:[^']|'')*)'$/.exec(clause.trim());
    if (!m) throw new Error(`PagedTable: unsupported filter clause ${clause}`);
    const [, name, op, quoted] = m;
    const value = quoted!.replaceAll("''", "'");
    const pick = (row: Row) => (name === 'PartitionKey' ? row.partitionKey : row.rowKey);
    return op === 'eq'
      ? (row: Row) => pick(row) === value
      : op === 'gt'
        ? (row: Row) => pick(row) > value
        : (row: Row) => pick(row) < value;
  });
  return (row) => tests.every((t) => t(row));
}
