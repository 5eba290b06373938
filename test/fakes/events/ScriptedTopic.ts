import type {
  CloudEventPublisher,
  OutgoingCloudEvent,
} from '../../../shared/events/EventGridRotationPublisher';

/** A topic whose next answers the test decides: `fail(n)` makes the next n sends fail with 503. */
export class ScriptedTopic implements CloudEventPublisher {
  readonly sent: OutgoingCloudEvent[] = [];
  private failures = 0;
  fail(times: number): void {
    this.failures = times;
  }
  async send(events: OutgoingCloudEvent[]): Promise<void> {
    if (this.failures > 0) {
      this.failures -= 1;
      throw Object.assign(new Error('Service Unavailable'), { name: 'RestError', statusCode: 503 });
    }
    this.sent.push(...events);
  }
}
