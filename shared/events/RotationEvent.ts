import type { RotationEventSink } from '../rotation/RotationEventSink';

/** The port is declared by its consumer, the rotator; this module supplies the Event Grid side of it. */
export {
  ROTATION_EVENT_TYPES,
  type RotationEvent,
  type RotationEventSink,
} from '../rotation/RotationEventSink';

/** CloudEvent type prefix of the events this app publishes. */
export const PUBLISHED_EVENT_TYPE_PREFIX = 'aml-credential-broker.';

/** Sends nothing; used when no topic is configured. */
export const noopRotationEventSink: RotationEventSink = { publish: () => Promise.resolve() };
