import {
  dayPartition,
  type ProcessedEventRecord,
  type ProcessedEventStore,
} from '../../../shared/events/ProcessedEventStore';

/** `ProcessedEventStore` in a Map keyed by day partition + id. */
export class InMemoryProcessedEventStore implements ProcessedEventStore {
  readonly records = new Map<string, ProcessedEventRecord>();

  /** As the Table store, a call handed a signal that has fired fails at once. */
  async has(id: string, eventTime: Date, abortSignal?: AbortSignal): Promise<boolean> {
    abortSignal?.throwIfAborted();
    return this.records.has(`${dayPartition(eventTime)}/${id}`);
  }

  async markProcessed(record: ProcessedEventRecord, abortSignal?: AbortSignal): Promise<void> {
    abortSignal?.throwIfAborted();
    const key = `${dayPartition(record.eventTime)}/${record.id}`;
    if (!this.records.has(key)) this.records.set(key, record);
  }

  async purgeOlderThan(cutoff: Date): Promise<number> {
    let deleted = 0;
    for (const [key, record] of this.records) {
      if (dayPartition(record.eventTime) < dayPartition(cutoff)) {
        this.records.delete(key);
        deleted += 1;
      }
    }
    return deleted;
  }
}
