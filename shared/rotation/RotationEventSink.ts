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

/**
 * What a publish whose `signal` cut its send leaves behind. `reject`: nothing held; the publish rejects with
 * the signal's reason, for its caller still has the event (a journal's `unsentEvent`; an incoming event
 * Event Grid delivers again). `hold`: the sink holds the event for a retry under the same id, within
 * {@link HOLD_WITHIN_MS}, and resolves: for an event nothing else keeps (`RotationFailed`, `DriftDetected`).
 */
export type IfSendCut = 'reject' | 'hold';

/**
 * How long a sink may take to hold an event for a retry once a `hold` publish's signal has fired (a write
 * to the Event Grid publisher's retry queue): the run that asked goes on then, whatever the sink is doing.
 */
export const HOLD_WITHIN_MS = 10_000;

/** Where rotation events go (port; the events module supplies the Event Grid implementation). */
export interface RotationEventSink {
  /**
   * Publishes one event. Implementations should not throw (but for a send `signal` cut, `ifCut` `reject`);
   * `RotationRecorder` logs and swallows failures too.
   * @param eventId - the CloudEvent id. A rotation passes the id it journaled with the event, so that a
   *   run sending again an event a stopped run may have sent uses the same id, and consumers that dedupe
   *   by id see it once. @default a new random id
   * @param signal - a time limit: a rotation run's budget (`RunBudget`), the bound of a send as it stops, an
   *   event reaction's. Once it fires the send is given up (one not begun yet is not begun), and `ifCut` says
   *   what becomes of the event.
   * @param ifCut - `reject` (the default): the publish rejects with the signal's reason, the event neither
   *   sent for sure nor held, and a hold of a send that failed before the signal fired is given up with it,
   *   so the event is never both held and kept by the caller (but for a write given up after the queue took
   *   it). `hold`: the event is held for a retry, as a failed send is ({@link IfSendCut}).
   */
  publish(event: RotationEvent, eventId?: string, signal?: AbortSignal, ifCut?: IfSendCut): Promise<void>;
}
