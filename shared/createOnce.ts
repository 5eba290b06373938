import { withinTimeLimit } from './clock';
import { statusOf } from './networkErrors';

/**
 * Returns a function that runs `create` (a table's or a queue's creation) on its first call and
 * remembers the success, so adapters pay the round trip once per process. A failure is forgotten, so
 * the next call tries again; "already exists" (409) counts as success. A creation that has not answered
 * within `timeLimitMs` counts as failed: the SDKs set no time limit, and every later call waits on the
 * first.
 */
export function createOnce(create: () => Promise<unknown>, timeLimitMs = 30_000): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= withinTimeLimit(create(), timeLimitMs).then(
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
