/** One processed event, as remembered for deduplication (ids and types only). */
export interface ProcessedEventRecord {
  readonly id: string;
  readonly type: string;
  /** The event's own time (same on every redelivery), else the receive time; picks the day partition. */
  readonly eventTime: Date;
  readonly outcome: string;
}

/**
 * Remembers which events were handled, so a redelivery is skipped. Event Grid delivers at least once
 * and retries for up to 24 h, so a few days' retention is enough; older rows are purged lazily.
 */
export interface ProcessedEventStore {
  /**
   * True when an event with this id and time was already processed.
   * @param abortSignal - ends the read (a delivery out of time)
   */
  has(id: string, eventTime: Date, abortSignal?: AbortSignal): Promise<boolean>;
  /**
   * Records an event as processed (insert-if-absent: a concurrent duplicate is not an error).
   * @param abortSignal - ends the write (a delivery out of time): the event is delivered again and reacted to
   *   again, unless the write landed before it was aborted
   */
  markProcessed(record: ProcessedEventRecord, abortSignal?: AbortSignal): Promise<void>;
  /** Deletes records older than `cutoff`; returns how many went. */
  purgeOlderThan(cutoff: Date): Promise<number>;
}

/** UTC day `yyyy-mm-dd` used as the partition key. */
export function dayPartition(time: Date): string {
  return time.toISOString().slice(0, 10);
}
