import type { PublishRetry, PublishRetryQueue } from '../../../shared/events/PublishRetry';

/** Keeps held events in order; `down` makes every enqueue fail, as a storage outage would. */
export class InMemoryPublishRetryQueue implements PublishRetryQueue {
  readonly held: Array<{ retry: PublishRetry; delaySeconds: number }> = [];
  down = false;

  async enqueue(retry: PublishRetry, options: { delaySeconds: number }): Promise<void> {
    if (this.down)
      throw Object.assign(new Error('queue unavailable'), { name: 'RestError', statusCode: 503 });
    // A copy through JSON, as the real queue stores it.
    this.held.push({
      retry: JSON.parse(JSON.stringify(retry)) as PublishRetry,
      delaySeconds: options.delaySeconds,
    });
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
