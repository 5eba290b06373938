import { createHash } from 'node:crypto';

import type { RotationEventSink } from '../rotation/RotationEventSink';

/** The port is declared by its consumer, the rotator; this module supplies the Event Grid side of it. */
export {
  HOLD_WITHIN_MS,
  type IfSendCut,
  ROTATION_EVENT_TYPES,
  type RotationEvent,
  type RotationEventSink,
} from '../rotation/RotationEventSink';

/** CloudEvent type prefix of the events this app publishes. */
export const PUBLISHED_EVENT_TYPE_PREFIX = 'aml-credential-broker.';

/** Sends nothing; used when no topic is configured. */
export const noopRotationEventSink: RotationEventSink = { publish: () => Promise.resolve() };

/** UUID namespace of {@link reactionEventId} (a constant of this app, never to change: ids derive from it). */
const REACTION_EVENT_ID_NAMESPACE = Buffer.from('a93734f6ae1e4c679c57e24486abcabd', 'hex');

/**
 * The CloudEvent id of the event a reaction publishes about an incoming event: a name-based UUID
 * (RFC 9562 version 5) of the incoming event's id and the reaction. Every delivery of the incoming
 * event (a retry after a 503, a twin delivered at once) publishes under the same id, so consumers that
 * dedupe by id see the outcome once; a random id per publish would make each delivery a new event.
 * @example await sink.publish(event, reactionEventId(incoming.id, 'DriftDetected'))
 */
export function reactionEventId(incomingEventId: string, reaction: string): string {
  const hash = createHash('sha1')
    .update(REACTION_EVENT_ID_NAMESPACE)
    .update(`${reaction}\n${incomingEventId}`, 'utf8')
    .digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
