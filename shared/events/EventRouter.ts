import { AppError, DependencyUnavailableError } from '../errors';
import type { Logger } from '../logging';
import { errorName } from '../networkErrors';
import { isTransientError } from '../retry';
import type { Telemetry } from '../telemetry';
import type { EndpointAutoRegistrar } from './EndpointAutoRegistrar';
import { type EventOutcome, eventOutcome } from './EventOutcome';
import { EVENT_TYPES, type IncomingEvent } from './IncomingEvent';
import type { KeyVaultReactions } from './KeyVaultReactions';
import { readKeyVaultSecretEvent } from './keyVaultSecretEvent';

/** Options of {@link EventRouter}. */
export interface EventRouterOptions {
  keyVault: Pick<KeyVaultReactions, 'onExpiry' | 'onNewVersion'>;
  autoRegistrar: Pick<EndpointAutoRegistrar, 'handle'>;
  logger: Logger;
  telemetry: Telemetry;
}

/**
 * Sends each event to its reaction by type. Failure policy (what Event Grid does next):
 * - transient (dependency unavailable, throttled, network), or a conflict that passes by itself
 *   (`AppError.temporary`: a lease held on the id, a write race lost every time) → rethrown as
 *   `DependencyUnavailableError`, the webhook answers 503 and Event Grid retries the delivery;
 * - a definite "no" from the rotation module (validation, not found, conflict, dependency refused)
 *   → acknowledged as `rejected` and logged: retrying cannot change the answer;
 * - anything else (a bug) → rethrown, 500, retried and finally dead-lettered by Event Grid.
 * Unknown types are acknowledged and counted.
 */
export class EventRouter {
  constructor(private readonly options: EventRouterOptions) {}

  /** Checks an event's data before anything in its delivery runs. @throws MalformedEventError */
  validate(event: IncomingEvent): void {
    if (KEY_VAULT_TYPES.has(event.type)) readKeyVaultSecretEvent(event);
  }

  /**
   * Runs the reaction for one event.
   * @param abortSignal - the delivery's budget (`EventWebhook`): the reactions hand it to each of their calls,
   *   which give up when it fires
   */
  async route(event: IncomingEvent, abortSignal?: AbortSignal): Promise<EventOutcome> {
    const { logger, telemetry } = this.options;
    try {
      const result = await this.dispatch(event, abortSignal);
      logger.info(`route => ${result.action}`, {
        eventId: event.id,
        type: event.type,
        endpointId: result.endpointId,
      });
      return result;
    } catch (error) {
      const props = {
        eventId: event.id,
        type: event.type,
        error: errorName(error),
      };
      // Given up by the webhook, which has answered already and said so in its own log line.
      if (abortSignal?.aborted && isTransientError(error)) throw error;
      if (isTransientError(error)) {
        logger.warn('route => dependency unavailable, delivery will be retried', props);
        throw error instanceof DependencyUnavailableError
          ? error
          : new DependencyUnavailableError('rotation', 'A dependency of the event reaction is unavailable.', {
              cause: error,
            });
      }
      if (error instanceof AppError && error.temporary) {
        // Recorded as rejected, the event would be lost: no later delivery of it would come.
        logger.warn('route => temporary conflict, delivery will be retried', { ...props, code: error.code });
        throw new DependencyUnavailableError('rotation', 'The event reaction met a temporary conflict.', {
          cause: error,
        });
      }
      if (error instanceof AppError && error.status !== 500) {
        logger.error('route => rejected by the rotation module, acknowledged', {
          ...props,
          code: error.code,
        });
        telemetry.trackMetric('EventsRejected', 1, { type: event.type, code: error.code });
        return eventOutcome(event, 'rejected');
      }
      throw error;
    }
  }

  private async dispatch(event: IncomingEvent, abortSignal: AbortSignal | undefined): Promise<EventOutcome> {
    switch (event.type) {
      case EVENT_TYPES.secretNearExpiry:
      case EVENT_TYPES.secretExpired:
        return this.options.keyVault.onExpiry(event, abortSignal);
      case EVENT_TYPES.secretNewVersionCreated:
        return this.options.keyVault.onNewVersion(event, abortSignal);
      case EVENT_TYPES.modelDeployed:
      case EVENT_TYPES.resourceWriteSuccess:
      case EVENT_TYPES.resourceDeleteSuccess:
        return this.options.autoRegistrar.handle(event, abortSignal);
      default:
        this.options.telemetry.trackMetric('EventsUnknownType', 1, { type: event.type.slice(0, 200) });
        return eventOutcome(event, 'unknownType');
    }
  }
}

const KEY_VAULT_TYPES = new Set<string>([
  EVENT_TYPES.secretNearExpiry,
  EVENT_TYPES.secretExpired,
  EVENT_TYPES.secretNewVersionCreated,
]);
