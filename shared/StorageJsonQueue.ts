import type { QueueClient } from '@azure/storage-queue';

import { type Sleep, untilAborted } from './clock';
import { createOnce } from './createOnce';
import { withRetries } from './retry';
import { DEFAULT_TRY_TIME_LIMIT_MS } from './timeLimitedHttpClient';

/** Options of {@link StorageJsonQueue}. */
export interface StorageJsonQueueOptions {
  client: QueueClient;
  sleep: Sleep;
  /**
   * Longest one call to the queue waits for an answer before it is aborted (and, for a send, tried
   * again): the limit the shared transport sets on the other clients (`AzureClients.tryTimeLimitMs`),
   * which the Storage queue SDK, keeping a transport of its own, does not use.
   * @default 30000
   */
  tryTimeLimitMs?: number;
}

/**
 * Sends JSON messages to one Storage queue: rotation jobs (`RotationJobQueue`) and events waiting to
 * be published again (`PublishRetryQueue`); to a poison queue, malformed messages as delivered
 * (`PoisonQueue`). Messages are base64-encoded, because the Functions host reads queue messages with
 * `messageEncoding: base64` (host.json). The queue is created on first use.
 */
export class StorageJsonQueue<T> {
  private readonly createQueue: () => Promise<void>;
  private readonly tryTimeLimitMs: number;

  constructor(private readonly options: StorageJsonQueueOptions) {
    this.tryTimeLimitMs = options.tryTimeLimitMs ?? DEFAULT_TRY_TIME_LIMIT_MS;
    this.createQueue = createOnce(() =>
      options.client.createIfNotExists({ abortSignal: AbortSignal.timeout(this.tryTimeLimitMs) }),
    );
  }

  /**
   * Sends one message.
   * @param options - `delaySeconds`: the message stays invisible that long. `abortSignal`: the caller's; once
   *   it fires the send is given up, its request aborted and no try or pause follows, rejecting with the
   *   signal's reason (a request aborted after the queue took it leaves the message there)
   */
  async enqueue(message: T, options: SendOptions = {}): Promise<void> {
    await this.enqueueText(JSON.stringify(message), options);
  }

  /** The queue's name. */
  get name(): string {
    return this.options.client.name;
  }

  /**
   * Sends `text` as it is (a message that is not JSON, copied to a poison queue).
   * @param options - as {@link enqueue}'s
   * @returns the id the queue gave the message (of the try that was answered, should a lost answer be retried)
   */
  async enqueueText(message: string, options: SendOptions = {}): Promise<string> {
    const { client, sleep } = this.options;
    const { abortSignal } = options;
    abortSignal?.throwIfAborted();
    // Raced: the queue's creation is shared by every send, so the signal cannot be handed to it.
    await untilAborted(this.createQueue(), abortSignal);
    const text = Buffer.from(message, 'utf8').toString('base64');
    const delay = Math.max(0, Math.ceil(options.delaySeconds ?? 0));
    const sending = withRetries(
      () =>
        client.sendMessage(text, {
          abortSignal: this.tryLimit(abortSignal),
          ...(delay > 0 ? { visibilityTimeout: delay } : {}),
        }),
      { dependency: 'queue', sleep, abortSignal },
    );
    // The SDK's own AbortError would stand in for the caller's reason.
    return (await untilAborted(sending, abortSignal)).messageId;
  }

  /** One try's signal: its time limit, or the caller's signal if that fires first. */
  private tryLimit(abortSignal: AbortSignal | undefined): AbortSignal {
    const limit = AbortSignal.timeout(this.tryTimeLimitMs);
    return abortSignal ? AbortSignal.any([limit, abortSignal]) : limit;
  }
}

/** Options of a send ({@link StorageJsonQueue.enqueue}). */
interface SendOptions {
  delaySeconds?: number;
  abortSignal?: AbortSignal;
}
