import type { QueueClient } from '@azure/storage-queue';

import type { Sleep } from './clock';
import { createOnce } from './createOnce';
import { withRetries } from './retry';

/**
 * Sends JSON messages to one Storage queue: rotation jobs (`RotationJobQueue`) and events waiting to
 * be published again (`PublishRetryQueue`). Messages are base64-encoded JSON, because the Functions
 * host reads queue messages with `messageEncoding: base64` (host.json). The queue is created on first
 * use.
 */
export class StorageJsonQueue<T> {
  private readonly createQueue: () => Promise<void>;

  constructor(private readonly options: { client: QueueClient; sleep: Sleep }) {
    this.createQueue = createOnce(() => options.client.createIfNotExists());
  }

  /**
   * Sends one message.
   * @param options - `delaySeconds`: the message stays invisible that long
   */
  async enqueue(message: T, options: { delaySeconds?: number } = {}): Promise<void> {
    const { client, sleep } = this.options;
    await this.createQueue();
    const text = Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
    const delay = Math.max(0, Math.ceil(options.delaySeconds ?? 0));
    await withRetries(() => client.sendMessage(text, delay > 0 ? { visibilityTimeout: delay } : {}), {
      dependency: 'queue',
      sleep,
    });
  }
}
