import { statusOf } from './networkErrors';

/**
 * Returns a function that runs `create` (a table's or a queue's creation) on its first call and
 * remembers the success, so adapters pay the round trip once per process. A failure is forgotten, so
 * the next call tries again; "already exists" (409) counts as success.
 */
export function createOnce(create: () => Promise<unknown>): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= create().then(
      () => undefined,
      (error: unknown) => {
        if (statusOf(error) === 409) return;
        ready = undefined;
        throw error;
      },
    );
    return ready;
  };
}

/** The one Table storage operation {@link createTableOnce} needs. */
export interface CreatableTable {
  createTable(): Promise<unknown>;
}

/** {@link createOnce} for a table. */
export function createTableOnce(table: CreatableTable): () => Promise<void> {
  return createOnce(() => table.createTable());
}
