import { statusOf } from './networkErrors';

/** The one Table storage operation {@link createTableOnce} needs. */
export interface CreatableTable {
  createTable(): Promise<unknown>;
}

/**
 * Returns a function that creates `table` on its first call and remembers the success, so adapters
 * pay the round trip once per process. A failure is forgotten, so the next call tries again; "already
 * exists" (409) counts as success.
 */
export function createTableOnce(table: CreatableTable): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= table.createTable().then(
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
