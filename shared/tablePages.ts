import type { TableClient, TableEntityResult, TableEntityResultPage } from '@azure/data-tables';

/** The rows one page read, and whether rows matching the filter are left after the last. */
export interface RowsPage<T> {
  readonly rows: readonly TableEntityResult<T>[];
  readonly more: boolean;
}

/**
 * Up to `top` rows matching `filter`, in key order, without reading past them. Table storage may answer
 * a query with fewer rows than asked for, even none, and a continuation (at a 5 s or partition
 * boundary, or at 1,000 rows); the next request goes on from that continuation and asks only for the
 * rows still missing, so no more than `top` rows are ever held. `select` names the only properties
 * read (the keys too, when wanted). `abortSignal` ends the page's requests (a caller past its time limit).
 */
export async function readRowsPage<T extends object>(
  table: Pick<TableClient, 'listEntities'>,
  filter: string,
  top: number,
  select?: string[],
  abortSignal?: AbortSignal,
): Promise<RowsPage<T>> {
  const rows: TableEntityResult<T>[] = [];
  let continuationToken: string | undefined;
  do {
    const pages = table
      .listEntities<T>({ queryOptions: { filter, ...(select ? { select } : {}) }, abortSignal })
      .byPage({ maxPageSize: top - rows.length, ...(continuationToken ? { continuationToken } : {}) });
    // The first `next()` of `byPage` always answers one request's page.
    const answer: IteratorResult<TableEntityResultPage<T>, unknown> = await pages.next();
    const page: TableEntityResultPage<T> = answer.done ? [] : answer.value;
    rows.push(...page);
    continuationToken = page.continuationToken;
  } while (continuationToken !== undefined && rows.length < top);
  return { rows, more: continuationToken !== undefined };
}
