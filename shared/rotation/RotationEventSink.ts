import type { KeySlot } from '../endpoints/ManagedEndpoint';

/** What rotation reports to the outside world (CONTRACT §4). Names, versions and ids only: never a key. */
export interface RotationEvent {
  type: 'KeyRotated' | 'RotationFailed' | 'DriftDetected';
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
  /** Publishes one event. Implementations should not throw; the rotator also swallows failures. */
  publish(event: RotationEvent): Promise<void>;
}
