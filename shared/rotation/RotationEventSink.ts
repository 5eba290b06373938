import type { KeySlot } from '../endpoints/ManagedEndpoint';

/** The kinds of {@link RotationEvent}. */
export const ROTATION_EVENT_TYPES = ['KeyRotated', 'RotationFailed', 'DriftDetected'] as const;

/** What rotation reports to the outside world. Names, versions and ids only: never a key. */
export interface RotationEvent {
  type: (typeof ROTATION_EVENT_TYPES)[number];
  endpointId: string;
  secretName: string;
  slot?: KeySlot;
  secretVersion?: string;
  rotationId?: string;
  step?: string;
  reason?: string;
  /** ISO time of the outcome. */
  time: string;
}

/** Where rotation events go (port; the events module supplies the Event Grid implementation). */
export interface RotationEventSink {
  /**
   * Publishes one event. Implementations should not throw; `RotationRecorder` logs and swallows failures too.
   * @param eventId - the CloudEvent id. A rotation passes the id it journaled with the event, so that a
   *   run sending again an event a stopped run may have sent uses the same id, and consumers that dedupe
   *   by id see it once. @default a new random id
   */
  publish(event: RotationEvent, eventId?: string): Promise<void>;
}
