import { withinTimeLimitGivingUp } from './clock';
import { statusOf } from './networkErrors';

/**
 * Returns a function that runs `create` (a table's or a queue's creation) on its first call and
 * remembers the success, so adapters pay the round trip once per process. A failure is forgotten, so
 * the next call tries again; "already exists" (409) counts as success. A creation that has not answered
 * within `timeLimitMs` counts as failed and is aborted through the signal `create` is handed: the SDKs
 * set no time limit, every later call waits on the first, and a creation left running would overlap
 * the next call's. The signal is the creation's own, never a caller's: every caller shares the one
 * creation, so one caller giving up must not fail it for the others (callers race it instead).
 */
export function createOnce(
  create: (abortSignal: AbortSignal) => Promise<unknown>,
  timeLimitMs = 30_000,
): () => Promise<void> {
  let ready: Promise<void> | undefined;
  return () => {
    ready ??= withinTimeLimitGivingUp(create, timeLimitMs).then(
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
  /** @param options.abortSignal - the creation, its request included, stops when it fires */
  createTable(options?: { abortSignal?: AbortSignal }): Promise<unknown>;
}

/**
 * {@link createOnce} for a table.
 * @param timeLimitMs - as {@link createOnce}'s
 */
export function createTableOnce(table: CreatableTable, timeLimitMs?: number): () => Promise<void> {
  return createOnce((abortSignal) => table.createTable({ abortSignal }), timeLimitMs);
}
