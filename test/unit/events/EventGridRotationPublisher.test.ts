import { AzureClients } from '../../../shared/azureClients';
import { TimeLimitError } from '../../../shared/clock';
import { loadConfig } from '../../../shared/config';
import { ValidationError } from '../../../shared/errors';
import { EventGridRotationPublisher } from '../../../shared/events/EventGridRotationPublisher';
import { createRotationEventSink } from '../../../shared/events/module';
import {
  DEFAULT_PUBLISH_RETRY_POLICY,
  parsePublishRetry,
  retryDelaySeconds,
} from '../../../shared/events/PublishRetry';
import type { RotationEvent } from '../../../shared/events/RotationEvent';
import { noopTelemetry } from '../../../shared/telemetry';
import { buildTestPublisher } from '../../fakes/events/buildTestPublisher';

const rotated: RotationEvent = {
  type: 'KeyRotated',
  endpointId: 'demo-key',
  secretName: 'demo-key-secret',
  slot: 'Secondary',
  secretVersion: 'v2',
  rotationId: 'r-1',
  time: '2026-11-23T02:00:00.000Z',
};

describe('Class: EventGridRotationPublisher', () => {
  describe('Method: publish', () => {
    it('sends one CloudEvent with the allow-listed fields only', async () => {
      // Prepare
      const { publisher, retries, topic } = buildTestPublisher();
      const withExtra = { ...rotated, key: 'SUPER-SECRET-KEY' } as RotationEvent;

      // Act
      await publisher.publish(withExtra);

      // Assess
      expect(topic.sent).toEqual([
        {
          id: 'evt-1',
          type: 'aml-credential-broker.KeyRotated',
          source: '/aml-credential-broker/endpoints/demo-key',
          subject: 'demo-key-secret',
          time: new Date('2026-11-23T02:00:00.000Z'),
          datacontenttype: 'application/json',
          data: {
            endpointId: 'demo-key',
            secretName: 'demo-key-secret',
            slot: 'Secondary',
            secretVersion: 'v2',
            rotationId: 'r-1',
            time: '2026-11-23T02:00:00.000Z',
          },
        },
      ]);
      expect(JSON.stringify(topic.sent)).not.toContain('SUPER-SECRET-KEY');
      expect(retries.held).toEqual([]);
    });

    it('sends and holds under the id it is given, so a run sending a journaled event again reuses it', async () => {
      // Prepare
      const { publisher, retries, topic } = buildTestPublisher();
      topic.fail(1);

      // Act
      await publisher.publish(rotated, 'journaled-id');
      await publisher.publish(rotated, 'journaled-id');

      // Assess
      expect(topic.sent.map((e) => e.id)).toEqual(['journaled-id']);
      expect(retries.take().eventId).toBe('journaled-id');
    });

    it('holds only the allow-listed fields when the publish fails', async () => {
      // Prepare
      const { publisher, retries, topic } = buildTestPublisher();
      topic.fail(1);

      // Act
      await publisher.publish({ ...rotated, key: 'SUPER-SECRET-KEY' } as RotationEvent);

      // Assess
      expect(retries.take().event).toEqual(rotated);
    });

    it('holds a failed publish for a retry a minute later, with the same event id, without throwing', async () => {
      // Prepare
      const { publisher, logger, telemetry, retries, topic } = buildTestPublisher();
      topic.fail(1);

      // Act
      await publisher.publish({ ...rotated, type: 'RotationFailed', step: 'set' });

      // Assess
      expect(retries.held).toEqual([
        {
          retry: {
            eventId: 'evt-1',
            event: { ...rotated, type: 'RotationFailed', step: 'set' },
            attempt: 2,
            firstFailedAt: '2026-11-23T02:00:00.000Z',
          },
          delaySeconds: 60,
        },
      ]);
      expect(telemetry.count('EventsPublishFailed')).toBe(1);
      expect(logger.lines).toEqual([
        {
          level: 'warn',
          message: 'publish => failed, held for retry',
          props: {
            type: 'RotationFailed',
            endpointId: 'demo-key',
            eventId: 'evt-1',
            failedAttempt: 1,
            retryInSeconds: 60,
            error: 'RestError',
            status: 503,
          },
        },
      ]);
    });

    it("gives a send up when its caller's signal fires, and neither holds nor counts it: the caller keeps the event", async () => {
      // Prepare: the topic never answers; a rotation run's budget (its signal) ends meanwhile
      const { publisher, logger, telemetry, retries, topic } = buildTestPublisher();
      topic.hangs = true;
      const budget = new AbortController();

      // Act
      const publishing = publisher.publish(rotated, 'journaled-id', budget.signal);
      budget.abort(new DOMException('The rotation run is out of time.', 'AbortError'));

      // Assess: the send was handed the signal, and the publish rejects with its reason
      await expect(publishing).rejects.toMatchObject({ name: 'AbortError' });
      expect(topic.signals).toEqual([budget.signal]);
      expect(retries.held).toEqual([]);
      expect(telemetry.count('EventsPublishFailed')).toBe(0);
      expect(logger.lines).toEqual([]);
    });

    it('holds a publish that failed before its signal fired, as any failed publish', async () => {
      // Prepare
      const { publisher, retries, topic } = buildTestPublisher();
      topic.fail(1);

      // Act
      await publisher.publish(rotated, 'journaled-id', new AbortController().signal);

      // Assess
      expect(retries.held.map((h) => h.retry.eventId)).toEqual(['journaled-id']);
    });

    it("gives a hold begun before its caller's signal fired up with the send: the event is left to the caller, not held as well", async () => {
      // Prepare: the topic refuses the send; the retry queue is slow to take the event; a rotation run's
      // budget (its signal) ends while it does
      const { publisher, telemetry, retries, topic } = buildTestPublisher();
      topic.fail(1);
      const stalled = retries.stallNext();
      const budget = new AbortController();

      // Act
      const publishing = publisher.publish(rotated, 'journaled-id', budget.signal);
      await stalled.reached;
      budget.abort(new DOMException('The rotation run is out of time.', 'AbortError'));
      stalled.release();

      // Assess: the write was handed the signal and given up; the caller (the journal) keeps the event
      await expect(publishing).rejects.toMatchObject({ name: 'AbortError' });
      expect(retries.signals).toEqual([budget.signal]);
      expect(retries.held).toEqual([]);
      expect(telemetry.count('EventsPublishLost')).toBe(0);
    });

    it("holds a send its caller's signal cut when asked to ('hold'), under the same id, without throwing", async () => {
      // Prepare: the topic never answers; the send's time limit (its signal) ends meanwhile
      const { publisher, logger, telemetry, retries, topic } = buildTestPublisher();
      topic.hangs = true;
      const limit = new AbortController();
      const failed: RotationEvent = { ...rotated, type: 'RotationFailed', step: 'set', reason: 'X' };

      // Act
      const publishing = publisher.publish(failed, 'failure-id', limit.signal, 'hold');
      limit.abort(new TimeLimitError(10_000));
      await publishing;

      // Assess: held for the first retry a minute later, counted as a failed publish, named in the log
      expect(topic.signals).toEqual([limit.signal]);
      expect(retries.held).toEqual([
        {
          retry: expect.objectContaining({ eventId: 'failure-id', attempt: 2 }) as unknown,
          delaySeconds: 60,
        },
      ]);
      expect(retries.held[0]?.retry.event).toMatchObject({ type: 'RotationFailed', step: 'set' });
      expect(telemetry.count('EventsPublishFailed')).toBe(1);
      expect(logger.lines.map((l) => [l.level, l.message, l.props?.['error']])).toEqual([
        ['warn', 'publish => failed, held for retry', 'TimeLimitError'],
      ]);
    });

    it('holds a send asked to be held whose signal fired before it began, without sending it', async () => {
      // Prepare
      const { publisher, retries, topic } = buildTestPublisher();
      const limit = new AbortController();
      limit.abort(new TimeLimitError(10_000));

      // Act
      await publisher.publish({ ...rotated, type: 'DriftDetected' }, 'drift-id', limit.signal, 'hold');

      // Assess
      expect(topic.sent).toEqual([]);
      expect(retries.held.map((h) => h.retry.eventId)).toEqual(['drift-id']);
    });

    it('gives a hold up at its own time limit when the retry queue does not answer, reporting the event lost', async () => {
      // Prepare: neither the topic nor the queue answers
      const { publisher, logger, telemetry, retries, topic } = buildTestPublisher({ holdTimeLimitMs: 50 });
      topic.hangs = true;
      retries.hangs = true;
      const limit = new AbortController();

      // Act
      const publishing = publisher.publish(rotated, 'failure-id', limit.signal, 'hold');
      limit.abort(new TimeLimitError(10_000));
      await publishing;

      // Assess: the write was handed a signal that fired at the limit; nothing held; reported lost
      expect(retries.signals[0]?.aborted).toBe(true);
      expect(retries.held).toEqual([]);
      expect(telemetry.count('EventsPublishLost')).toBe(1);
      expect(logger.lines.at(-1)?.props).toMatchObject({
        eventId: 'failure-id',
        why: 'retry queue unavailable (TimeLimitError)',
      });
    });

    it('logs the event as lost when the retry queue fails too, and still does not throw', async () => {
      // Prepare
      const { publisher, logger, telemetry, retries, topic } = buildTestPublisher();
      topic.fail(1);
      retries.down = true;

      // Act
      await publisher.publish(rotated);

      // Assess
      expect(telemetry.count('EventsPublishLost')).toBe(1);
      expect(logger.lines.map((l) => [l.level, l.message])).toEqual([['error', 'publish => event lost']]);
      expect(logger.lines[0]?.props).toMatchObject({
        eventId: 'evt-1',
        attempts: 1,
        why: 'retry queue unavailable (RestError)',
      });
    });
  });

  describe('Method: republish', () => {
    it('sends a held event with its first id once the topic is back, so the consumer sees it once', async () => {
      // Prepare
      const { publisher, logger, telemetry, clock, retries, topic } = buildTestPublisher();
      topic.fail(3);
      await publisher.publish(rotated);

      // Act: two retries fail, the third lands.
      const outcomes = [];
      for (let i = 0; i < 3; i += 1) {
        clock.advance(retries.nextDelaySeconds() * 1000);
        outcomes.push(await publisher.republish(retries.take()));
      }

      // Assess
      expect(outcomes).toEqual([
        { status: 'retryQueued', eventId: 'evt-1', type: 'KeyRotated', attempt: 2, retryInSeconds: 120 },
        { status: 'retryQueued', eventId: 'evt-1', type: 'KeyRotated', attempt: 3, retryInSeconds: 240 },
        { status: 'sent', eventId: 'evt-1', type: 'KeyRotated', attempt: 4 },
      ]);
      expect(topic.sent.map((e) => e.id)).toEqual(['evt-1']);
      expect(topic.sent[0]?.time).toEqual(new Date(rotated.time));
      expect(retries.held).toEqual([]);
      expect(telemetry.count('EventsPublishFailed')).toBe(3);
      expect(telemetry.count('EventsPublished')).toBe(1);
      expect(logger.lines.at(-1)).toEqual({
        level: 'info',
        message: 'publish => sent',
        props: { type: 'KeyRotated', endpointId: 'demo-key', eventId: 'evt-1', attempt: 4 },
      });
    });

    it('waits at most an hour between tries', () => {
      // Act
      const delays = [2, 3, 7, 8, 20].map((attempt) =>
        retryDelaySeconds(DEFAULT_PUBLISH_RETRY_POLICY, attempt),
      );

      // Assess
      expect(delays).toEqual([60, 120, 1920, 3600, 3600]);
    });

    it('gives the event up a day after the first failure and logs it as lost', async () => {
      // Prepare
      const { publisher, logger, telemetry, clock, retries, topic } = buildTestPublisher();
      topic.fail(1000);
      await publisher.publish(rotated);

      // Act
      let outcome;
      let tries = 1;
      do {
        clock.advance(retries.nextDelaySeconds() * 1000);
        outcome = await publisher.republish(retries.take());
        tries += 1;
      } while (outcome.status === 'retryQueued');

      // Assess
      expect(outcome).toEqual({
        status: 'lost',
        eventId: 'evt-1',
        type: 'KeyRotated',
        attempt: tries,
        why: 'still failing 24 h after the first try',
      });
      expect(tries).toBe(30);
      expect(retries.held).toEqual([]);
      expect(telemetry.count('EventsPublishLost')).toBe(1);
      expect(logger.lines.at(-1)).toEqual(
        expect.objectContaining({ level: 'error', message: 'publish => event lost' }),
      );
    });

    it('throws when the event can be neither sent nor held again, so the queue delivers it again', async () => {
      // Prepare
      const { publisher, retries, topic } = buildTestPublisher();
      topic.fail(2);
      await publisher.publish(rotated);
      const held = retries.take();
      retries.down = true;

      // Act + Assess
      await expect(publisher.republish(held)).rejects.toThrow('queue unavailable');
    });

    it('reports the event lost on the last delivery when it can be neither sent nor held, not only left in poison', async () => {
      // Prepare
      const { publisher, logger, telemetry, retries, topic } = buildTestPublisher();
      topic.fail(3);
      await publisher.publish(rotated);
      const held = retries.take();
      retries.down = true;

      // Act: deliveries 1 to 4 throw so the queue tries again; the 5th is the last before the poison queue.
      await expect(publisher.republish(held, 4)).rejects.toThrow('queue unavailable');
      const outcome = await publisher.republish(held, 5);

      // Assess
      expect(outcome).toEqual({
        status: 'lost',
        eventId: 'evt-1',
        type: 'KeyRotated',
        attempt: 2,
        why: 'retry queue unavailable (RestError)',
      });
      expect(telemetry.count('EventsPublishLost')).toBe(1);
      expect(logger.lines.at(-1)).toEqual({
        level: 'error',
        message: 'publish => event lost',
        props: {
          type: 'KeyRotated',
          endpointId: 'demo-key',
          eventId: 'evt-1',
          attempts: 2,
          why: 'retry queue unavailable (RestError)',
        },
      });
    });
  });
});

describe('Function: parsePublishRetry', () => {
  const valid = { eventId: 'evt-1', event: rotated, attempt: 2, firstFailedAt: '2026-11-23T02:00:00.000Z' };

  it('reads a held event from its queue text and drops fields the CloudEvent does not carry', () => {
    // Act
    const parsed = parsePublishRetry(
      JSON.stringify({ ...valid, event: { ...rotated, key: 'SUPER-SECRET-KEY' } }),
    );

    // Assess
    expect(parsed).toEqual(valid);
  });

  it('names every bad field', () => {
    // Act
    let error: unknown;
    try {
      parsePublishRetry({
        eventId: '',
        attempt: 1,
        firstFailedAt: 'soon',
        event: { type: 'Other', slot: 'Third' },
      });
    } catch (caught) {
      error = caught;
    }

    // Assess
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.field)).toEqual([
      'eventId',
      'attempt',
      'firstFailedAt',
      'event.type',
      'event.endpointId',
      'event.secretName',
      'event.time',
      'event.slot',
    ]);
  });

  it('refuses text that is not JSON', () => {
    expect(() => parsePublishRetry('{not json')).toThrow('message: must be JSON');
  });
});

describe('Function: createRotationEventSink', () => {
  const env = {
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
    BROKER_SECRET_PEPPER: 'p'.repeat(40),
  };
  const rootOf = (extra: Record<string, string>) => {
    const config = loadConfig({ ...env, ...extra });
    return { config, clients: new AzureClients(config), telemetry: noopTelemetry, clock: { now: () => 0 } };
  };

  it('sends nothing when no topic is configured, and reports events held earlier as lost', async () => {
    // Prepare
    const sink = createRotationEventSink(rootOf({}));
    const held = { eventId: 'evt-1', event: rotated, attempt: 2, firstFailedAt: rotated.time };

    // Act
    await sink.publish(rotated);
    const outcome = await sink.republish(held);

    // Assess
    expect(outcome).toEqual({
      status: 'lost',
      eventId: 'evt-1',
      type: 'KeyRotated',
      attempt: 2,
      why: 'EVENT_GRID_TOPIC_ENDPOINT is not set any more',
    });
  });

  it('builds an Event Grid publisher when a topic is configured', () => {
    // Act
    const sink = createRotationEventSink(
      rootOf({
        EVENT_GRID_TOPIC_ENDPOINT: 'https://t.westeurope-1.eventgrid.azure.net/api/events',
        EVENT_GRID_TOPIC_KEY: 'k',
      }),
    );

    // Assess
    expect(sink).toBeInstanceOf(EventGridRotationPublisher);
  });
});
