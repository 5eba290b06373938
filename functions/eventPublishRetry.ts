import { app, type InvocationContext } from '@azure/functions';

import type { PublishRetryWorker } from '../shared/events/PublishRetryWorker';
import { dequeueCountOf, malformedDetail, messageIdOf } from '../shared/queueMessage';
import { getServices } from '../shared/services';

/** Resolves the worker inside the invocation (tests pass one built over fakes). */
export type PublishRetryResolver = () => Pick<PublishRetryWorker, 'handle'>;

const defaultResolver: PublishRetryResolver = () => getServices().publishRetries;

/**
 * Queue trigger (`EVENTS_RETRY_QUEUE`): tries once more to publish a CloudEvent whose publish failed.
 * Still failing, it is held again with a longer delay and this message completes; after a day it is
 * logged as lost. Only a message that can be neither sent nor held again throws, so the host delivers
 * it again (on its last delivery it is logged as lost instead); a malformed one goes to `<queue>-poison`
 * on its first delivery and completes, since no retry could parse it.
 */
export function eventPublishRetryHandler(resolve: PublishRetryResolver = defaultResolver) {
  return async (message: unknown, context: InvocationContext): Promise<void> => {
    const { triggerMetadata } = context;
    const messageId = messageIdOf(triggerMetadata);
    const outcome = await resolve().handle(message, dequeueCountOf(triggerMetadata), messageId);
    if (outcome.status === 'malformed') {
      context.log(`EventPublishRetry => run => malformed, ${malformedDetail(outcome, messageId)}`);
      return;
    }
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
