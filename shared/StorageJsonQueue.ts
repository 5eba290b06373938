import type { QueueClient } from '@azure/storage-queue';

import type { Sleep } from './clock';
import { withRetries } from './retry';

/**
 * Sends JSON messages to one Storage queue: rotation jobs (`RotationJobQueue`) and events waiting to
 * be published again (`PublishRetryQueue`). Messages are base64-encoded JSON, because the Functions
 * host reads queue messages with `messageEncoding: base64` (host.json). The queue is created on first
 * use.
 */
export class StorageJsonQueue<T> {
  private ready?: Promise<unknown>;

  constructor(private readonly options: { client: QueueClient; sleep: Sleep }) {}

  /**
   * Sends one message.
   * @param options - `delaySeconds`: the message stays invisible that long
   */
  async enqueue(message: T, options: { delaySeconds?: number } = {}): Promise<void> {
    const { client, sleep } = this.options;
    this.ready ??= client.createIfNotExists().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    await this.ready;
    const text = Buffer.from(JSON.stringify(message), 'utf8').toString('base64');
    const delay = Math.max(0, Math.ceil(options.delaySeconds ?? 0));
    await withRetries(() => client.sendMessage(text, delay > 0 ? { visibilityTimeout: delay } : {}), {
      dependency: 'queue',
      sleep,
    });
  }
}
