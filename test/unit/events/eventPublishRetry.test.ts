import { InvocationContext } from '@azure/functions';

import { eventPublishRetryHandler } from '../../../functions/eventPublishRetry';
import { PublishRetryWorker } from '../../../shared/events/PublishRetryWorker';
import { buildTestPublisher } from '../../fakes/events/buildTestPublisher';
import { InMemoryPoisonQueue } from '../../fakes/InMemoryPoisonQueue';

function fixture() {
  const lines: string[] = [];
  const context = new InvocationContext({
    invocationId: 'inv-1',
    logHandler: (_level, ...args) => void lines.push(args.join(' ')),
  });
  const publishing = buildTestPublisher();
  const poison = new InMemoryPoisonQueue('event-publish-retries-poison');
  const { publisher, logger } = publishing;
  const worker = new PublishRetryWorker({ publisher, poison, logger });
  return { ...publishing, poison, worker, context, lines };
}

const rotated = {
  type: 'KeyRotated',
  endpointId: 'demo-key',
  secretName: 'demo-key-secret',
  slot: 'Secondary',
  secretVersion: 'v2',
  time: '2026-11-23T02:00:00.000Z',
} as const;

describe('Function: eventPublishRetry', () => {
  it('publishes a held event from its queue message and says so', async () => {
    // Prepare
    const f = fixture();
    f.topic.fail(1);
    await f.publisher.publish(rotated);
    const message = JSON.parse(JSON.stringify(f.retries.take())) as unknown;

    // Act
    await eventPublishRetryHandler(() => f.worker)(message, f.context);

    // Assess
    expect(f.topic.sent.map((e) => [e.id, e.type])).toEqual([['evt-1', 'aml-credential-broker.KeyRotated']]);
    expect(f.lines).toEqual(['EventPublishRetry => run => sent type=KeyRotated eventId=evt-1 attempt=2']);
  });

  it('holds it again with a longer delay while the topic still fails, and completes the message', async () => {
    // Prepare
    const f = fixture();
    f.topic.fail(2);
    await f.publisher.publish(rotated);

    // Act
    await eventPublishRetryHandler(() => f.worker)(f.retries.take(), f.context);

    // Assess
    expect(f.retries.held.map((h) => [h.retry.attempt, h.delaySeconds])).toEqual([[3, 120]]);
    expect(f.lines).toEqual([
      'EventPublishRetry => run => retryQueued type=KeyRotated eventId=evt-1 attempt=2 retryInSeconds=120',
    ]);
  });

  it('passes the dequeue count on, so the last delivery of an event it cannot hold is reported lost', async () => {
    // Prepare
    const f = fixture();
    f.topic.fail(2);
    await f.publisher.publish(rotated);
    const message = f.retries.take();
    f.retries.down = true;
    const lastDelivery = new InvocationContext({
      invocationId: 'inv-5',
      triggerMetadata: { dequeueCount: 5 },
      logHandler: (_level, ...args) => void f.lines.push(args.join(' ')),
    });

    // Act
    await eventPublishRetryHandler(() => f.worker)(message, lastDelivery);

    // Assess
    expect(f.telemetry.count('EventsPublishLost')).toBe(1);
    expect(f.lines).toEqual([
      'EventPublishRetry => run => lost type=KeyRotated eventId=evt-1 attempt=2 why=retry queue unavailable (RestError)',
    ]);
  });

  describe('a held event of a newer format (rolling deployment)', () => {
    // Held by a newer version, with an event type this version has no name for
    const newer = {
      v: 2,
      eventId: 'evt-9',
      attempt: 3,
      firstFailedAt: '2026-11-23T01:00:00.000Z',
      event: {
        type: 'EndpointRetired',
        endpointId: 'demo-key',
        workspace: 'ws1',
        time: '2026-11-23T00:59:00Z',
      },
    };
    const lastDelivery = (lines: string[]) =>
      new InvocationContext({
        invocationId: 'inv-5',
        triggerMetadata: { dequeueCount: 5 },
        logHandler: (_level, ...args) => void lines.push(args.join(' ')),
      });

    it('is held again as written for an instance that reads it, even on its last delivery', async () => {
      // Prepare
      const f = fixture();

      // Act
      await eventPublishRetryHandler(() => f.worker)(JSON.stringify(newer), lastDelivery(f.lines));

      // Assess
      expect(f.topic.sent).toEqual([]);
      expect(f.retries.held.map((h) => h.retry)).toEqual([newer]);
      expect(f.poison.texts).toEqual([]);
      expect(f.retries.nextDelaySeconds()).toBeGreaterThanOrEqual(60);
      expect(f.retries.nextDelaySeconds()).toBeLessThanOrEqual(120);
      expect(f.lines).toEqual([
        expect.stringMatching(
          /^EventPublishRetry => run => retryQueued type=EndpointRetired eventId=evt-9 attempt=3 retryInSeconds=\d+ \(format 2\)$/,
        ),
      ]);
    });

    it('is reported lost a day after its first failure, as any held event', async () => {
      // Prepare
      const f = fixture();
      f.clock.advance(23 * 3_600_000);

      // Act
      await eventPublishRetryHandler(() => f.worker)(newer, f.context);

      // Assess
      expect(f.retries.held).toEqual([]);
      expect(f.telemetry.count('EventsPublishLost')).toBe(1);
      expect(f.lines).toEqual([
        'EventPublishRetry => run => lost type=EndpointRetired eventId=evt-9 attempt=3 why=format 2, which no instance took up within 24 h of the first try',
      ]);
    });
  });

  it('moves a malformed message to the poison queue on its first delivery and completes it', async () => {
    // Prepare
    const f = fixture();
    const malformed = { eventId: 'evt-1', attempt: 2, note: 'NOT-TO-BE-LOGGED' };

    // Act
    await eventPublishRetryHandler(() => f.worker)(malformed, f.context);

    // Assess: the message as delivered, and the bad fields named (never their values)
    const issues =
      'firstFailedAt: an ISO time; event.type: one of KeyRotated, RotationFailed, DriftDetected; event.endpointId: a non-empty string; event.secretName: a non-empty string; event.time: a non-empty string';
    expect(f.topic.sent).toEqual([]);
    expect(f.retries.held).toEqual([]);
    expect(f.poison.texts).toEqual([JSON.stringify(malformed)]);
    expect(f.lines).toEqual([
      `EventPublishRetry => run => malformed, moved to event-publish-retries-poison (${issues})`,
    ]);
    expect(f.logger.lines).toEqual([
      {
        level: 'error',
        message: 'handle => malformed held event moved to poison queue',
        props: { queue: 'event-publish-retries-poison', dequeueCount: 1, issues },
      },
    ]);
    expect(JSON.stringify([f.lines, f.logger.lines])).not.toContain('NOT-TO-BE-LOGGED');
  });

  it('moves text that is not JSON as it was delivered', async () => {
    // Prepare
    const f = fixture();

    // Act
    await eventPublishRetryHandler(() => f.worker)('publish evt-1 again', f.context);

    // Assess
    expect(f.poison.texts).toEqual(['publish evt-1 again']);
    expect(f.lines).toEqual([
      'EventPublishRetry => run => malformed, moved to event-publish-retries-poison (message: must be JSON)',
    ]);
  });

  it("names the delivered message's id and its copy's on the poison queue, in both lines", async () => {
    // Prepare: the host's trigger metadata, and a queue that answers the copy's id
    const f = fixture();
    f.poison.answersIds = true;
    const delivered = new InvocationContext({
      invocationId: 'inv-1',
      triggerMetadata: { dequeueCount: 1, id: 'msg-1' },
      logHandler: (_level, ...args) => void f.lines.push(args.join(' ')),
    });

    // Act
    await eventPublishRetryHandler(() => f.worker)('publish evt-1 again', delivered);

    // Assess
    expect(f.lines).toEqual([
      'EventPublishRetry => run => malformed, moved to event-publish-retries-poison (message: must be JSON) messageId=msg-1 poisonMessageId=poison-1',
    ]);
    expect(f.logger.lines).toMatchObject([
      {
        level: 'error',
        message: 'handle => malformed held event moved to poison queue',
        props: { messageId: 'msg-1', poisonMessageId: 'poison-1', dequeueCount: 1 },
      },
    ]);
  });

  it('rejects a malformed message it could not move, so the host delivers it again', async () => {
    // Prepare
    const f = fixture();
    f.poison.down = true;

    // Act + Assess
    await expect(eventPublishRetryHandler(() => f.worker)({ eventId: 'evt-1' }, f.context)).rejects.toThrow(
      'queue unavailable',
    );
    expect(f.topic.sent).toEqual([]);
  });
});
