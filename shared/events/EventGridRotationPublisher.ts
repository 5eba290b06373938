import { randomUUID } from 'node:crypto';

import type { Logger } from '../logging';
import type { Telemetry } from '../telemetry';
import { PUBLISHED_EVENT_TYPE_PREFIX, type RotationEvent, type RotationEventSink } from './RotationEvent';

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
  send(events: OutgoingCloudEvent[]): Promise<void>;
}

/** Options of {@link EventGridRotationPublisher}. */
export interface EventGridRotationPublisherOptions {
  client: CloudEventPublisher;
  logger: Logger;
  telemetry: Telemetry;
  /** @default randomUUID */
  newId?: () => string;
}

/**
 * Publishes rotation outcomes as CloudEvents (`aml-credential-broker.KeyRotated|RotationFailed|
 * DriftDetected`, source `/aml-credential-broker/endpoints/<id>`, subject = secret name) so consumers
 * can re-read the secret at once instead of waiting for their refresh. A failed publish is logged and
 * counted but never thrown: the rotation itself has already happened and must not be undone or retried.
 */
export class EventGridRotationPublisher implements RotationEventSink {
  constructor(private readonly options: EventGridRotationPublisherOptions) {}

  async publish(event: RotationEvent): Promise<void> {
    const { client, logger, telemetry } = this.options;
    const cloudEvent = toCloudEvent(event, (this.options.newId ?? randomUUID)());
    try {
      await client.send([cloudEvent]);
      logger.info('publish => sent', {
        type: cloudEvent.type,
        endpointId: event.endpointId,
        eventId: cloudEvent.id,
      });
      telemetry.trackMetric('EventsPublished', 1, { type: event.type });
    } catch (error) {
      logger.warn('publish => failed, rotation unaffected', {
        type: cloudEvent.type,
        endpointId: event.endpointId,
        error: error instanceof Error ? error.name : 'unknown',
        status: (error as { statusCode?: number }).statusCode,
      });
      telemetry.trackMetric('EventsPublishFailed', 1, { type: event.type });
    }
  }
}

/** Maps a rotation event to the published CloudEvent, copying only the allow-listed fields. */
export function toCloudEvent(event: RotationEvent, id: string): OutgoingCloudEvent {
  const data: RotationEventData = {
    endpointId: event.endpointId,
    secretName: event.secretName,
    time: event.time,
  };
  if (event.slot !== undefined) data.slot = event.slot;
  if (event.secretVersion !== undefined) data.secretVersion = event.secretVersion;
  if (event.rotationId !== undefined) data.rotationId = event.rotationId;
  if (event.step !== undefined) data.step = event.step;
  if (event.reason !== undefined) data.reason = event.reason;
  const time = new Date(event.time);
  return {
    id,
    type: `${PUBLISHED_EVENT_TYPE_PREFIX}${event.type}`,
    source: `/aml-credential-broker/endpoints/${event.endpointId}`,
    subject: event.secretName,
    time: Number.isNaN(time.getTime()) ? new Date() : time,
    datacontenttype: 'application/json',
    data,
  };
}
