import type { KeySlot } from '../endpoints/ManagedEndpoint';

/**
 * What the rotation module reports after a rotation (CONTRACT §4). Declared here structurally, matching
 * the consumer-side declaration in shared/rotation, so the two modules do not import each other.
 * Carries names, versions and ids only: never a key.
 */
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

/** Where rotation outcomes go: an Event Grid topic, or nowhere when none is configured. */
export interface RotationEventSink {
  /** Publishes one event. Never throws: a failed publish must not fail a finished rotation. */
  publish(event: RotationEvent): Promise<void>;
}

/** CloudEvent type prefix of the events this app publishes. */
export const PUBLISHED_EVENT_TYPE_PREFIX = 'aml-credential-broker.';

/** Sends nothing; used when no topic is configured. */
export const noopRotationEventSink: RotationEventSink = { publish: () => Promise.resolve() };
