import type { PoisonQueue } from '../../shared/queueMessage';

/**
 * Records the texts moved to a poison queue; `down` makes every send fail, as a storage outage would.
 * With `answersIds` each send answers the new message's id (`poison-1`, …), as Storage does.
 */
export class InMemoryPoisonQueue implements PoisonQueue {
  readonly texts: string[] = [];
  down = false;
  answersIds = false;

  constructor(readonly name = 'test-queue-poison') {}

  async enqueueText(text: string): Promise<string | undefined> {
    if (this.down)
      throw Object.assign(new Error('queue unavailable'), { name: 'RestError', statusCode: 503 });
    this.texts.push(text);
    return this.answersIds ? `poison-${this.texts.length}` : undefined;
  }
}
