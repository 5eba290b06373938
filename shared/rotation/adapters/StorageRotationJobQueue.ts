import type { QueueClient } from '@azure/storage-queue';

import type { Sleep } from '../../clock';
import { withRetries } from '../retry';
import type { RotationJob, RotationJobQueue } from '../RotationJob';

/**
 * `RotationJobQueue` over a Storage queue. Messages are the job's JSON, base64-encoded, because the
 * Functions host reads queue messages with `messageEncoding: base64` (host.json).
 */
export class StorageRotationJobQueue implements RotationJobQueue {
  private ready?: Promise<unknown>;

  constructor(private readonly options: { client: QueueClient; sleep: Sleep }) {}

  async enqueue(job: RotationJob, options: { delaySeconds?: number } = {}): Promise<void> {
    const { client, sleep } = this.options;
    this.ready ??= client.createIfNotExists().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    await this.ready;
    const text = Buffer.from(JSON.stringify(job), 'utf8').toString('base64');
    const delay = Math.max(0, Math.ceil(options.delaySeconds ?? 0));
    await withRetries(() => client.sendMessage(text, delay > 0 ? { visibilityTimeout: delay } : {}), {
      dependency: 'queue',
      sleep,
    });
  }
}
