import { isKeySlot, KEY_SLOTS } from '../endpoints/ManagedEndpoint';
import { ValidationError } from '../errors';
import type { Logger } from '../logging';
import { fieldsOf, queueMessageFields } from '../queueMessage';
import type { Telemetry } from '../telemetry';
import { ROTATION_EVENT_TYPES, type RotationEvent } from './RotationEvent';

/**
 * One event waiting to be published again (a message on `EVENTS_RETRY_QUEUE`). It keeps the CloudEvent
 * id of the first try, so a consumer that dedupes by id sees one event however many tries it took.
 * Names, versions and ids only, like the event itself.
 */
export interface PublishRetry {
  eventId: string;
  event: RotationEvent;
  /** The try this message is for: 2 is the first retry. */
  attempt: number;
  /** ISO time of the first failed try; the retries stop `giveUpAfterHours` after it. */
  firstFailedAt: string;
}

/** Where failed publishes wait for their next try (port; `StorageJsonQueue` is the Storage adapter). */
export interface PublishRetryQueue {
  /**
   * @param options - `delaySeconds`: the message stays invisible that long. `abortSignal`: the write is given
   *   up once it fires (rejecting with its reason), pauses between tries included
   */
  enqueue(retry: PublishRetry, options: { delaySeconds: number; abortSignal?: AbortSignal }): Promise<void>;
}

/** How long a failed publish keeps being tried. */
export interface PublishRetryPolicy {
  /** Wait before the first retry; doubles per try. */
  readonly firstDelaySeconds: number;
  readonly maxDelaySeconds: number;
  /** After this long since the first failure the event is given up and logged as lost. */
  readonly giveUpAfterHours: number;
}

/**
 * 1, 2, 4 … 60 minutes, for a day: Event Grid keeps retrying its own deliveries for a day too, and a
 * consumer that missed the event has re-read the secret on its own schedule long before.
 */
export const DEFAULT_PUBLISH_RETRY_POLICY: PublishRetryPolicy = {
  firstDelaySeconds: 60,
  maxDelaySeconds: 3600,
  giveUpAfterHours: 24,
};

/** The wait before try `attempt` (2 = first retry). */
export function retryDelaySeconds(policy: PublishRetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelaySeconds, policy.firstDelaySeconds * 2 ** Math.max(0, attempt - 2));
}

/**
 * The newest format of a held event this version reads (`formatOf`). A newer format may change the
 * event; `eventId`, `attempt` and `firstFailedAt` keep their meaning in every format, so that a version
 * holding a message it cannot read for the one that can still knows when to give it up.
 */
export const PUBLISH_RETRY_FORMAT = 1;

/** What any version can read of a held event, whatever its format: its names, for logs, and its age. */
export function heldEventOf(fields: Readonly<Record<string, unknown>>): {
  eventId: string;
  event: Pick<RotationEvent, 'endpointId'> & { type: string };
  attempt: number;
  firstFailedAtMs: number;
} {
  const event = fieldsOf(fields.event);
  const text = (value: unknown): string => (typeof value === 'string' ? value : '');
  return {
    eventId: text(fields.eventId),
    event: { type: text(event.type), endpointId: text(event.endpointId) },
    attempt: Number.isInteger(fields.attempt) ? (fields.attempt as number) : 0,
    firstFailedAtMs: Date.parse(text(fields.firstFailedAt)),
  };
}

/** Validates a queue message as a {@link PublishRetry} (`ValidationError` naming each bad field). */
export function parsePublishRetry(message: unknown): PublishRetry {
  const raw = queueMessageFields(message);
  const event = fieldsOf(raw.event);
  const issues = [];
  if (!nonEmpty(raw.eventId)) issues.push({ field: 'eventId', message: 'the CloudEvent id' });
  if (!Number.isInteger(raw.attempt) || (raw.attempt as number) < 2)
    issues.push({ field: 'attempt', message: 'a whole number from 2' });
  if (typeof raw.firstFailedAt !== 'string' || Number.isNaN(Date.parse(raw.firstFailedAt)))
    issues.push({ field: 'firstFailedAt', message: 'an ISO time' });
  if (!ROTATION_EVENT_TYPES.includes(event.type as RotationEvent['type']))
    issues.push({ field: 'event.type', message: `one of ${ROTATION_EVENT_TYPES.join(', ')}` });
  for (const field of ['endpointId', 'secretName', 'time'] as const)
    if (!nonEmpty(event[field])) issues.push({ field: `event.${field}`, message: 'a non-empty string' });
  if (event.slot !== undefined && !isKeySlot(event.slot))
    issues.push({ field: 'event.slot', message: `${KEY_SLOTS.join(' or ')} when present` });
  for (const field of OPTIONAL_TEXT)
    if (event[field] !== undefined && typeof event[field] !== 'string')
      issues.push({ field: `event.${field}`, message: 'a string when present' });
  if (issues.length > 0) throw new ValidationError(issues);
  return {
    eventId: raw.eventId as string,
    attempt: raw.attempt as number,
    firstFailedAt: raw.firstFailedAt as string,
    event: eventFields(event as unknown as RotationEvent),
  };
}

/**
 * The event's own fields, copied one by one: whatever else an object carries (or a hand-edited message
 * holds) never rides along into a queue message or a CloudEvent.
 */
export function eventFields(event: RotationEvent): RotationEvent {
  const copy: RotationEvent = {
    type: event.type,
    endpointId: event.endpointId,
    secretName: event.secretName,
    time: event.time,
  };
  if (event.slot !== undefined) copy.slot = event.slot;
  for (const field of OPTIONAL_TEXT) if (event[field] !== undefined) copy[field] = event[field];
  return copy;
}

const OPTIONAL_TEXT = ['secretVersion', 'rotationId', 'step', 'reason'] as const;

function nonEmpty(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

/** What became of one retry. */
export interface RepublishOutcome {
  readonly status: 'sent' | 'retryQueued' | 'lost';
  readonly eventId: string;
  /** The event's type; one of a newer version's too, for a held event of its format. */
  readonly type: string;
  readonly attempt: number;
  /** Set for a held event of a format above this version's ({@link PublishRetryHandler.holdForNewerVersion}). */
  readonly format?: number;
  /** Set for `retryQueued`. */
  readonly retryInSeconds?: number;
  /** Set for `lost`. */
  readonly why?: string;
}

/** Tries a held event again (the `eventPublishRetry` queue function's port). */
export interface PublishRetryHandler {
  /**
   * Throws only when the event could neither be sent nor held again, so the queue delivers it again; on
   * the last delivery (host.json `maxDequeueCount`) it reports the event lost instead, because the
   * message would otherwise end in the poison queue, where nobody reads it, without an `events-lost` alert.
   * @param dequeueCount - `triggerMetadata.dequeueCount` (1 on the first delivery)
   */
  republish(retry: PublishRetry, dequeueCount?: number): Promise<RepublishOutcome>;
  /**
   * Holds again, as written, a held event of a format above this version's, which a newer version wrote
   * during a rolling deployment, for an instance that reads it; gives it up as lost when the retries of
   * any held event would have stopped. Throws, and reports, like `republish`.
   * @param message - the queue message's fields
   */
  holdForNewerVersion(
    message: Readonly<Record<string, unknown>>,
    dequeueCount?: number,
  ): Promise<RepublishOutcome>;
}

/**
 * Logs `publish => event lost` and counts `EventsPublishLost` (the `events-lost` alert's metric) for an
 * event given up: at error when its tries ran out or it could not be held, at warn when the topic was
 * removed on purpose.
 */
export function reportLostEvent(
  out: { logger: Logger; telemetry: Telemetry },
  level: 'error' | 'warn',
  lost: {
    eventId: string;
    event: Pick<RotationEvent, 'endpointId'> & { type: string };
    attempts?: number;
    why: string;
  },
): void {
  const { eventId, event, attempts, why } = lost;
  out.logger[level]('publish => event lost', {
    type: event.type,
    endpointId: event.endpointId,
    eventId,
    attempts,
    why,
  });
  out.telemetry.trackMetric('EventsPublishLost', 1, { type: event.type });
}
