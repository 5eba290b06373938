import { untilAborted } from '../../../shared/clock';
import type {
  CloudEventPublisher,
  OutgoingCloudEvent,
} from '../../../shared/events/EventGridRotationPublisher';
import { neverEnds } from '../sleeps';

/**
 * A topic whose next answers the test decides: `fail(n)` makes the next n sends fail with 503; `hangs`
 * leaves sends unanswered until their signal fires (the SDK then rejects with the signal's AbortError).
 */
export class ScriptedTopic implements CloudEventPublisher {
  readonly sent: OutgoingCloudEvent[] = [];
  /** The signal each send was handed, in call order. */
  readonly signals: Array<AbortSignal | undefined> = [];
  hangs = false;
  private failures = 0;
  fail(times: number): void {
    this.failures = times;
  }
  async send(events: OutgoingCloudEvent[], options?: { abortSignal?: AbortSignal }): Promise<void> {
    this.signals.push(options?.abortSignal);
    if (this.hangs) await untilAborted(neverEnds(0), options?.abortSignal);
    if (this.failures > 0) {
      this.failures -= 1;
      throw Object.assign(new Error('Service Unavailable'), { name: 'RestError', statusCode: 503 });
    }
    this.sent.push(...events);
  }
}
