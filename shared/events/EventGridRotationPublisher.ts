import { randomUUID } from 'node:crypto';

import { type Clock, isoNow, untilAborted, withinTimeLimitGivingUp } from '../clock';
import type { Logger } from '../logging';
import { errorName, statusOf } from '../networkErrors';
import { formatOf, MAX_DEQUEUE_COUNT } from '../queueMessage';
import type { Telemetry } from '../telemetry';
import {
  DEFAULT_PUBLISH_RETRY_POLICY,
  eventFields,
  heldEventOf,
  type PublishRetry,
  type PublishRetryHandler,
  type PublishRetryPolicy,
  type PublishRetryQueue,
  reportLostEvent,
  type RepublishOutcome,
  retryDelaySeconds,
} from './PublishRetry';
import {
  HOLD_WITHIN_MS,
  type IfSendCut,
  PUBLISHED_EVENT_TYPE_PREFIX,
  type RotationEvent,
  type RotationEventSink,
} from './RotationEvent';

/** Delay before a held event of a newer format is offered again, for an instance of its version to take. */
const NEWER_FORMAT_RETRY_SECONDS = 60;

/** The CloudEvent this app publishes (the shape `EventGridPublisherClient<'CloudEvent'>.send` takes). */
export interface OutgoingCloudEvent {
  id: string;
  type: string;
  source: string;
  subject: string;
  time: Date;
  datacontenttype: 'application/json';
  data: RotationEventData;
}

/** Published data: names, versions and ids only. Built field by field so nothing else can slip in. */
export interface RotationEventData {
  endpointId: string;
  secretName: string;
  slot?: string;
  secretVersion?: string;
  rotationId?: string;
  step?: string;
  reason?: string;
  time: string;
}

/** Port over `EventGridPublisherClient` in CloudEvent mode. */
export interface CloudEventPublisher {
  /** @param options - `abortSignal` gives the request up (the SDK's option, so its client fits as it is) */
  send(events: OutgoingCloudEvent[], options?: { abortSignal?: AbortSignal }): Promise<void>;
}

/** Options of {@link EventGridRotationPublisher}. */
export interface EventGridRotationPublisherOptions {
  client: CloudEventPublisher;
  logger: Logger;
  telemetry: Telemetry;
  clock: Clock;
  /** Where a failed publish waits for its next try. */
  retries: PublishRetryQueue;
  /** @default DEFAULT_PUBLISH_RETRY_POLICY */
  retryPolicy?: PublishRetryPolicy;
  /** @default randomUUID */
  newId?: () => string;
  /** host.json `extensions.queues.maxDequeueCount`. @default 5 */
  maxDequeueCount?: number;
  /**
   * Longest a `hold` publish's write to the retry queue may take (its tries and pauses included) before the
   * event is reported lost: such a publish runs in a rotation run's stop margin. @default HOLD_WITHIN_MS
   */
  holdTimeLimitMs?: number;
}

/**
 * Publishes rotation outcomes as CloudEvents (`aml-credential-broker.KeyRotated|RotationFailed|
 * DriftDetected`, source `/aml-credential-broker/endpoints/<id>`, subject = secret name) so consumers
 * can re-read the secret at once instead of waiting for their refresh. `publish` never throws: the
 * rotation has already happened and must not be undone or retried for an event. A publish that still
 * fails after the SDK's retries is held on the retry queue and tried again for a day (`republish`),
 * with the same CloudEvent id, so consumers that dedupe by id see it once. A send its caller's signal cuts
 * is not held, but for a `hold` publish: its caller keeps the event (a rotation run's journal, an incoming
 * event Event Grid delivers again). A `hold` publish (an event nothing else keeps) holds it, its write to the
 * queue bounded so the run sending it still stops in its margin (`RotationEventSink.publish`).
 */
export class EventGridRotationPublisher implements RotationEventSink, PublishRetryHandler {
  private readonly policy: PublishRetryPolicy;

  constructor(private readonly options: EventGridRotationPublisherOptions) {
    this.policy = options.retryPolicy ?? DEFAULT_PUBLISH_RETRY_POLICY;
  }

  async publish(
    event: RotationEvent,
    eventId = (this.options.newId ?? randomUUID)(),
    signal?: AbortSignal,
    ifCut: IfSendCut = 'reject',
  ): Promise<void> {
    const failure = await this.send(event, eventId, 1, signal);
    if (!failure) return;
    const keptByCaller = ifCut === 'reject';
    // Cut: the caller has the event, and holding it would be more work past the caller's time limit.
    if (keptByCaller) signal?.throwIfAborted();
    // Held like a failed send, so counted like one.
    else if (signal?.aborted)
      this.options.telemetry.trackMetric('EventsPublishFailed', 1, { type: event.type });
    const retry: PublishRetry = {
      eventId,
      event: eventFields(event),
      attempt: 2,
      firstFailedAt: isoNow(this.options.clock),
    };
    try {
      // A hold the caller's signal cuts is given up with the send, so the event is never both held and
      // kept by the caller (but for a write aborted after the queue took it: sent twice then, under one id).
      // A `hold` publish's signal has fired, or will: its write has a limit of its own.
      await (keptByCaller
        ? untilAborted(this.hold(retry, failure, signal), signal)
        : withinTimeLimitGivingUp(
            (limit) => this.hold(retry, failure, limit),
            this.options.holdTimeLimitMs ?? HOLD_WITHIN_MS,
          ));
    } catch (error) {
      if (keptByCaller) signal?.throwIfAborted();
      this.lost(retry, 1, `retry queue unavailable (${errorName(error)})`);
    }
  }

  async republish(retry: PublishRetry, dequeueCount = 1): Promise<RepublishOutcome> {
    const { eventId, event, attempt } = retry;
    const failure = await this.send(event, eventId, attempt);
    if (!failure) return { status: 'sent', eventId, type: event.type, attempt };
    const elapsedMs = this.options.clock.now() - Date.parse(retry.firstFailedAt);
    if (elapsedMs >= this.policy.giveUpAfterHours * 3_600_000) {
      const why = `still failing ${this.policy.giveUpAfterHours} h after the first try`;
      this.lost(retry, attempt, why);
      return { status: 'lost', eventId, type: event.type, attempt, why };
    }
    try {
      const retryInSeconds = await this.hold({ ...retry, attempt: attempt + 1 }, failure);
      return { status: 'retryQueued', eventId, type: event.type, attempt, retryInSeconds };
    } catch (error) {
      // The host would move this message to the poison queue now, unannounced.
      if (dequeueCount < (this.options.maxDequeueCount ?? MAX_DEQUEUE_COUNT)) throw error;
      const why = `retry queue unavailable (${errorName(error)})`;
      this.lost(retry, attempt, why);
      return { status: 'lost', eventId, type: event.type, attempt, why };
    }
  }

  async holdForNewerVersion(
    message: Readonly<Record<string, unknown>>,
    dequeueCount = 1,
  ): Promise<RepublishOutcome> {
    const { eventId, event, attempt, firstFailedAtMs } = heldEventOf(message);
    const format = formatOf(message);
    const outcome = { eventId, type: event.type, attempt, format };
    const lost = (why: string): RepublishOutcome => {
      reportLostEvent(this.options, 'error', { eventId, event, attempts: attempt, why });
      return { status: 'lost', ...outcome, why };
    };
    const { giveUpAfterHours } = this.policy;
    // Not-a-number (no first try named) gives up too.
    if (!(this.options.clock.now() - firstFailedAtMs < giveUpAfterHours * 3_600_000))
      return lost(
        `format ${format}, which no instance took up within ${giveUpAfterHours} h of the first try`,
      );
    try {
      // This version's type only in name: the message goes back as the newer version wrote it.
      await this.options.retries.enqueue(message as unknown as PublishRetry, {
        delaySeconds: NEWER_FORMAT_RETRY_SECONDS,
      });
    } catch (error) {
      if (dequeueCount < (this.options.maxDequeueCount ?? MAX_DEQUEUE_COUNT)) throw error;
      return lost(`retry queue unavailable (${errorName(error)})`);
    }
    return { status: 'retryQueued', ...outcome, retryInSeconds: NEWER_FORMAT_RETRY_SECONDS };
  }

  /** One try; the error when it failed. */
  private async send(
    event: RotationEvent,
    eventId: string,
    attempt: number,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const { client, logger, telemetry } = this.options;
    try {
      // Not begun once given up (a run's failure event sent after its send bound passed).
      signal?.throwIfAborted();
      await client.send([toCloudEvent(event, eventId)], { abortSignal: signal });
    } catch (error) {
      // Given up by its caller, not failed by Event Grid: no failure to count.
      if (signal?.aborted) return error ?? signal.reason;
      telemetry.trackMetric('EventsPublishFailed', 1, { type: event.type });
      return error ?? new Error('publish failed');
    }
    logger.info('publish => sent', {
      type: event.type,
      endpointId: event.endpointId,
      eventId,
      ...(attempt > 1 ? { attempt } : {}),
    });
    telemetry.trackMetric('EventsPublished', 1, { type: event.type });
    return undefined;
  }

  /** Puts `retry` on the queue for its next try; returns the wait. */
  private async hold(retry: PublishRetry, failure: unknown, abortSignal?: AbortSignal): Promise<number> {
    const delaySeconds = retryDelaySeconds(this.policy, retry.attempt);
    await this.options.retries.enqueue(retry, { delaySeconds, abortSignal });
    this.options.logger.warn('publish => failed, held for retry', {
      type: retry.event.type,
      endpointId: retry.event.endpointId,
      eventId: retry.eventId,
      failedAttempt: retry.attempt - 1,
      retryInSeconds: delaySeconds,
      error: errorName(failure),
      status: statusOf(failure),
    });
    return delaySeconds;
  }

  private lost(retry: PublishRetry, attempts: number, why: string): void {
    reportLostEvent(this.options, 'error', { eventId: retry.eventId, event: retry.event, attempts, why });
  }
}

/** Maps a rotation event to the published CloudEvent, copying only the allow-listed fields. */
export function toCloudEvent(event: RotationEvent, id: string): OutgoingCloudEvent {
  const { type, ...data }: RotationEvent = eventFields(event);
  const time = new Date(event.time);
  return {
    id,
    type: `${PUBLISHED_EVENT_TYPE_PREFIX}${type}`,
    source: `/aml-credential-broker/endpoints/${event.endpointId}`,
    subject: event.secretName,
    time: Number.isNaN(time.getTime()) ? new Date() : time,
    datacontenttype: 'application/json',
    data,
  };
}
