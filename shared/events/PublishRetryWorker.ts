import { ValidationError } from '../errors';
import type { Logger } from '../logging';
import {
  formatOf,
  type MalformedMessage,
  moveToPoison,
  type PoisonQueue,
  queueMessageFields,
} from '../queueMessage';
import {
  parsePublishRetry,
  PUBLISH_RETRY_FORMAT,
  type PublishRetry,
  type PublishRetryHandler,
  type RepublishOutcome,
} from './PublishRetry';

/** Dependencies of {@link PublishRetryWorker}. */
export interface PublishRetryWorkerOptions {
  publisher: PublishRetryHandler;
  /** `<EVENTS_RETRY_QUEUE>-poison`, where a message that is not a held event goes on its first delivery. */
  poison: PoisonQueue;
  logger: Logger;
}

/**
 * Turns one message of `EVENTS_RETRY_QUEUE` into one more try (the `eventPublishRetry` queue function's
 * work). A held event of a format above this version's, which a newer version wrote during a rolling
 * deployment, is held again for an instance that reads it; a message that is not a held event at all goes
 * to the poison queue on its first delivery, as outcome `malformed`: no delivery could parse it.
 */
export class PublishRetryWorker {
  constructor(private readonly options: PublishRetryWorkerOptions) {}

  /**
   * Throws only as {@link PublishRetryHandler.republish} does, or when a malformed message could not be
   * moved, so that the host delivers it again.
   * @param message - the queue message as the host hands it over (parsed JSON object or text)
   * @param dequeueCount - `triggerMetadata.dequeueCount` (1 on the first delivery)
   * @param messageId - `triggerMetadata.id`, named when a malformed message is moved to the poison queue
   */
  async handle(
    message: unknown,
    dequeueCount: number,
    messageId?: string,
  ): Promise<RepublishOutcome | MalformedMessage> {
    const { publisher, poison, logger } = this.options;
    let fields: Record<string, unknown>;
    let retry: PublishRetry | undefined;
    try {
      fields = queueMessageFields(message);
      if (formatOf(fields) <= PUBLISH_RETRY_FORMAT) retry = parsePublishRetry(fields);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      return moveToPoison(message, error, {
        poison,
        logger,
        what: 'held event',
        dequeueCount,
        messageId,
      });
    }
    // A newer version's held event (a rolling deployment) waits for an instance that reads its format.
    return retry
      ? publisher.republish(retry, dequeueCount)
      : publisher.holdForNewerVersion(fields, dequeueCount);
  }
}
