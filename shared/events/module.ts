import { realSleep } from '../clock';
import { SETTINGS } from '../config';
import { createLogger, type Logger, type LogSink } from '../logging';
import { formatOf } from '../queueMessage';
import { ArmServerlessKeyClient } from '../rotation/adapters/ArmServerlessKeyClient';
import { sdk } from '../sdk';
import type { ModuleRoot } from '../services';
import { StorageJsonQueue } from '../StorageJsonQueue';
import type { Telemetry } from '../telemetry';
import { EndpointAutoRegistrar } from './EndpointAutoRegistrar';
import { ArmEndpointDescriber, type EndpointDescriber } from './EndpointDescriber';
import { EventGridRotationPublisher } from './EventGridRotationPublisher';
import { EventRouter } from './EventRouter';
import type { EventsRotationPorts } from './EventsRotationPorts';
import { EventWebhook } from './EventWebhook';
import { KeyVaultReactions } from './KeyVaultReactions';
import { vaultNameOf } from './keyVaultSecretEvent';
import type { ProcessedEventStore } from './ProcessedEventStore';
import { heldEventOf, type PublishRetry, type PublishRetryHandler, reportLostEvent } from './PublishRetry';
import { PublishRetryWorker } from './PublishRetryWorker';
import { noopRotationEventSink, type RotationEventSink } from './RotationEvent';
import { TableProcessedEventStore } from './TableProcessedEventStore';

/** What the events module offers the function layer. */
export interface EventsModule {
  readonly webhook: EventWebhook;
  readonly router: EventRouter;
  readonly processed: ProcessedEventStore;
  /** The sink reactions publish through (DriftDetected). */
  readonly sink: RotationEventSink;
}

/** Dependencies of {@link createEventsModule}; `sink`, `describer`, `processed` default to the real ones. */
export interface EventsModuleDeps {
  rotation: EventsRotationPorts;
  sink?: RotationEventSink;
  describer?: EndpointDescriber;
  processed?: ProcessedEventStore;
  /** Where log lines go. @default the console (the Functions host captures it) */
  logSink?: LogSink;
  /** Told an endpoint's id when a Key Vault write outside rotation replaced its current key. */
  onKeyReplaced?: (endpointId: string) => void;
}

/** The outgoing side: publishes rotation events and tries held ones again. */
export type RotationEventPublisher = RotationEventSink & PublishRetryHandler;

/**
 * The outgoing sink: Event Grid CloudEvents when `EVENT_GRID_TOPIC_ENDPOINT` is set (key credential
 * when `EVENT_GRID_TOPIC_KEY` is set, otherwise the managed identity), with failed publishes held on
 * `EVENTS_RETRY_QUEUE`; else a sink that sends nothing.
 */
export function createRotationEventSink(root: ModuleRoot): RotationEventPublisher {
  const { topicEndpoint, topicKey, retryQueue } = root.config.events;
  const logger = createLogger('EventPublisher');
  if (!topicEndpoint) return unpublishedEvents(logger, root.telemetry);
  const { AzureKeyCredential, EventGridPublisherClient } = sdk.eventGrid();
  const credential = topicKey ? new AzureKeyCredential(topicKey) : root.clients.credential;
  const client = new EventGridPublisherClient(topicEndpoint, 'CloudEvent', credential, {
    httpClient: root.clients.httpClient,
  });
  return new EventGridRotationPublisher({
    client: { send: async (events, options) => client.send(events, options) },
    retries: new StorageJsonQueue<PublishRetry>({
      client: root.clients.queue(retryQueue),
      sleep: realSleep,
      tryTimeLimitMs: root.clients.tryTimeLimitMs,
    }),
    logger,
    telemetry: root.telemetry,
    clock: root.clock,
  });
}

/**
 * The `eventPublishRetry` queue function's worker: held events go to `publisher`, and messages on
 * `EVENTS_RETRY_QUEUE` that are not held events to its poison queue.
 */
export function createPublishRetryWorker(
  root: ModuleRoot,
  publisher: PublishRetryHandler,
): PublishRetryWorker {
  return new PublishRetryWorker({
    publisher,
    poison: new StorageJsonQueue<never>({
      client: root.clients.queue(`${root.config.events.retryQueue}-poison`),
      sleep: realSleep,
      tryTimeLimitMs: root.clients.tryTimeLimitMs,
    }),
    logger: createLogger('EventPublishRetry'),
  });
}

/** No topic: nothing is sent, and events held while one was configured cannot be sent either. */
function unpublishedEvents(logger: Logger, telemetry: Telemetry): RotationEventPublisher {
  const lost = (eventId: string, event: { type: string; endpointId: string }, attempt: number) => {
    const why = `${SETTINGS.eventGridTopicEndpoint.name} is not set any more`;
    reportLostEvent({ logger, telemetry }, 'warn', { eventId, event, why });
    return { status: 'lost' as const, eventId, type: event.type, attempt, why };
  };
  return {
    publish: (event) => noopRotationEventSink.publish(event),
    republish: ({ eventId, event, attempt }) => Promise.resolve(lost(eventId, event, attempt)),
    holdForNewerVersion: (message) => {
      const { eventId, event, attempt } = heldEventOf(message);
      return Promise.resolve({ ...lost(eventId, event, attempt), format: formatOf(message) });
    },
  };
}

/**
 * Builds the webhook and its reactions over the rotation module's ports.
 * @example const events = createEventsModule(root, { rotation: rotationModule });
 */
export function createEventsModule(root: ModuleRoot, deps: EventsModuleDeps): EventsModule {
  const { config, clock, telemetry, clients } = root;
  const sink = deps.sink ?? createRotationEventSink(root);
  const logger = (component: string) => createLogger(component, deps.logSink);
  const processed =
    deps.processed ??
    new TableProcessedEventStore({
      table: clients.table(config.tables.events),
      clock,
      logger: logger('ProcessedEvents'),
    });
  // Serverless endpoints are read as rotation reads them (SDK 2.1.1 has no serverless operations).
  const serverless = new ArmServerlessKeyClient({
    client: (sub) => clients.machineLearning(sub),
    armEndpoint: config.arm.endpoint,
    apiVersion: config.arm.mlApiVersion,
    sleep: realSleep,
  });
  const describer =
    deps.describer ??
    new ArmEndpointDescriber({
      onlineEndpoints: (sub) => clients.machineLearning(sub).onlineEndpoints,
      serverlessEndpoints: (arm, abortSignal) => serverless.describe({ arm }, abortSignal),
    });
  const router = new EventRouter({
    keyVault: new KeyVaultReactions({
      rotation: deps.rotation,
      sink,
      clock,
      logger: logger('KeyVaultEvents'),
      telemetry,
      ...(deps.onKeyReplaced ? { onKeyReplaced: deps.onKeyReplaced } : {}),
      vaultName: vaultNameOf(config.keyVault.url),
    }),
    autoRegistrar: new EndpointAutoRegistrar({
      rotation: deps.rotation,
      describer,
      clock,
      logger: logger('AutoRegister'),
      enabled: config.events.autoRegisterEnabled,
      filter: config.events.autoRegisterTag,
    }),
    logger: logger('EventRouter'),
    telemetry,
  });
  const webhook = new EventWebhook({
    router,
    processed,
    clock,
    logger: logger('EventWebhook'),
    telemetry,
  });
  return { webhook, router, processed, sink };
}
