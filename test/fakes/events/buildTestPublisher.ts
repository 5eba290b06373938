import { EventGridRotationPublisher } from '../../../shared/events/EventGridRotationPublisher';
import { CapturingLogger, CapturingTelemetry } from '../capture';
import { FakeClock } from '../FakeClock';
import { InMemoryPublishRetryQueue } from './InMemoryPublishRetryQueue';
import { ScriptedTopic } from './ScriptedTopic';

/**
 * An `EventGridRotationPublisher` over fakes: a topic the test scripts, an in-memory retry queue and a
 * clock at 2026-11-23T02:00Z (`options` set the rest); event ids are `evt-1`, `evt-2`, … in publish order.
 */
export function buildTestPublisher(options: { holdTimeLimitMs?: number } = {}) {
  const topic = new ScriptedTopic();
  const logger = new CapturingLogger();
  const telemetry = new CapturingTelemetry();
  const clock = new FakeClock(Date.parse('2026-11-23T02:00:00Z'));
  const retries = new InMemoryPublishRetryQueue();
  let ids = 0;
  const publisher = new EventGridRotationPublisher({
    client: topic,
    logger,
    telemetry,
    clock,
    retries,
    newId: () => `evt-${++ids}`,
    ...options,
  });
  return { publisher, topic, logger, telemetry, clock, retries };
}
