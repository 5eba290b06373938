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
   * Publishes one event. Implementations should not throw (but for a send `signal` cut); `RotationRecorder`
   * logs and swallows failures too.
   * @param eventId - the CloudEvent id. A rotation passes the id it journaled with the event, so that a
   *   run sending again an event a stopped run may have sent uses the same id, and consumers that dedupe
   *   by id see it once. @default a new random id
   * @param signal - a rotation run's time budget (`RunBudget`): once it fires the send is given up and
   *   the publish rejects with its reason, the event neither sent for sure nor held for a retry: the caller
   *   still has it (the journal's `unsentEvent`), and the next run sends it under the same id.
   */
  publish(event: RotationEvent, eventId?: string, signal?: AbortSignal): Promise<void>;
}
