import { app, type InvocationContext } from '@azure/functions';

import { dequeueCountOf, malformedDetail, messageIdOf } from '../shared/queueMessage';
import type { RotationModule } from '../shared/rotation/module';
import { getServices } from '../shared/services';

/** Resolves the rotation module inside the invocation (tests pass one built over fakes). */
export type RotationWorkerResolver = () => Pick<RotationModule, 'worker'>;

const defaultResolver: RotationWorkerResolver = () => getServices().rotation;

/**
 * Queue trigger (`ROTATION_QUEUE`): runs one rotation job. A failed job throws, so the host makes the
 * message visible again and retries; after host.json's `maxDequeueCount` it lands in `<queue>-poison`
 * and the journal says why. A job stopped by ARM throttling is not failed: it is put back on the queue
 * with a delay and the message completes; so does one whose failure only a person can fix, such as drift
 * (`RotationJobHandler`). A message that is not a job at all goes to `<queue>-poison` on its first
 * delivery and completes: no retry could parse it.
 */
export function rotationWorkerHandler(resolve: RotationWorkerResolver = defaultResolver) {
  return async (message: unknown, context: InvocationContext): Promise<void> => {
    const { triggerMetadata } = context;
    const messageId = messageIdOf(triggerMetadata);
    const outcome = await resolve().worker.handle(message, dequeueCountOf(triggerMetadata), messageId);
    if (outcome.status === 'malformed') {
      context.log(`RotationWorker => run => malformed, ${malformedDetail(outcome, messageId)}`);
      return;
    }
    // A skip is journaled nowhere: this line is where an operator finds why a run did nothing.
    const detail =
      outcome.status === 'skipped'
        ? `reason=${outcome.reason}${outcome.detail ? ` (${outcome.detail})` : ''}`
        : outcome.status === 'failed'
          ? `code=${outcome.code} (waits for a person; see the endpoint's status)`
          : `slot=${outcome.slot} version=${outcome.secretVersion}`;
    context.log(`RotationWorker => run => ${outcome.status} endpoint=${outcome.endpointId} ${detail}`);
  };
}

app.storageQueue('rotationWorker', {
  queueName: '%ROTATION_QUEUE%',
  connection: 'AzureWebJobsStorage',
  handler: rotationWorkerHandler(),
});
