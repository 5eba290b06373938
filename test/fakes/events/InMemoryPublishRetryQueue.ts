import { untilAborted } from '../../../shared/clock';
import type { PublishRetry, PublishRetryQueue } from '../../../shared/events/PublishRetry';
import { neverEnds } from '../sleeps';

/**
 * Keeps held events in order; `down` makes every enqueue fail, as a storage outage would; `hangs` leaves
 * every enqueue unanswered until its signal fires (the SDK then rejects with the signal's reason, holding
 * nothing), as a queue that accepts the connection and says nothing.
 */
export class InMemoryPublishRetryQueue implements PublishRetryQueue {
  readonly held: Array<{ retry: PublishRetry; delaySeconds: number }> = [];
  /** The signal each enqueue was handed, in call order. */
  readonly signals: Array<AbortSignal | undefined> = [];
  down = false;
  hangs = false;
  private stalled: { reached: () => void; released: Promise<void> } | undefined;

  async enqueue(
    retry: PublishRetry,
    options: { delaySeconds: number; abortSignal?: AbortSignal },
  ): Promise<void> {
    this.signals.push(options.abortSignal);
    const stalled = this.stalled;
    this.stalled = undefined;
    if (stalled) {
      stalled.reached();
      await untilAborted(stalled.released, options.abortSignal);
    }
    if (this.hangs) await untilAborted(neverEnds(0), options.abortSignal);
    if (this.down)
      throw Object.assign(new Error('queue unavailable'), { name: 'RestError', statusCode: 503 });
    // A copy through JSON, as the real queue stores it.
    this.held.push({
      retry: JSON.parse(JSON.stringify(retry)) as PublishRetry,
      delaySeconds: options.delaySeconds,
    });
  }

  /**
   * The next enqueue waits, once `reached`, until `release` (then it holds the event) or until its signal
   * fires (then it holds nothing): a write still going when its caller gives it up.
   */
  stallNext(): { reached: Promise<void>; release: () => void } {
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let reached = (): void => undefined;
    const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
    this.stalled = { reached, released };
    return { reached: reachedPromise, release };
  }

  /** How long the oldest held event waits. */
  nextDelaySeconds(): number {
    const next = this.held[0];
    if (!next) throw new Error('no held event');
    return next.delaySeconds;
  }

  /** Takes the oldest held event, as the queue trigger would receive it. */
  take(): PublishRetry {
    const next = this.held.shift();
    if (!next) throw new Error('no held event');
    return next.retry;
  }
}
