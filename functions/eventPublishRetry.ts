import { app, type InvocationContext } from '@azure/functions';

import {
  parsePublishRetry,
  PUBLISH_RETRY_FORMAT,
  type PublishRetryHandler,
} from '../shared/events/PublishRetry';
import { dequeueCountOf, formatOf, queueMessageFields } from '../shared/queueMessage';
import { getServices } from '../shared/services';

/** Resolves the publisher inside the invocation (tests pass one built over fakes). */
export type PublishRetryResolver = () => PublishRetryHandler;

const defaultResolver: PublishRetryResolver = () => getServices().rotationEvents;

/**
 * Queue trigger (`EVENTS_RETRY_QUEUE`): tries once more to publish a CloudEvent whose publish failed.
 * Still failing, it is held again with a longer delay and this message completes; after a day it is
 * logged as lost. Only a message that can be neither sent nor held again throws, so the host delivers
 * it again (on its last delivery it is logged as lost instead); a malformed one reaches `<queue>-poison`
 * after host.json's `maxDequeueCount`.
 */
export function eventPublishRetryHandler(resolve: PublishRetryResolver = defaultResolver) {
  return async (message: unknown, context: InvocationContext): Promise<void> => {
    const fields = queueMessageFields(message);
    const dequeueCount = dequeueCountOf(context.triggerMetadata);
    // A newer version's held event (a rolling deployment) waits for an instance that reads its format.
    const outcome =
      formatOf(fields) > PUBLISH_RETRY_FORMAT
        ? await resolve().holdForNewerVersion(fields, dequeueCount)
        : await resolve().republish(parsePublishRetry(fields), dequeueCount);
    const detail =
      outcome.status === 'retryQueued'
        ? ` retryInSeconds=${outcome.retryInSeconds}${outcome.format ? ` (format ${outcome.format})` : ''}`
        : outcome.status === 'lost'
          ? ` why=${outcome.why}`
          : '';
    context.log(
      `EventPublishRetry => run => ${outcome.status} type=${outcome.type} eventId=${outcome.eventId} attempt=${outcome.attempt}${detail}`,
    );
  };
}

app.storageQueue('eventPublishRetry', {
  queueName: '%EVENTS_RETRY_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: eventPublishRetryHandler(),
});
