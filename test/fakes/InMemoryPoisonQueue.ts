import type { PoisonQueue } from '../../shared/queueMessage';

/** Records the texts moved to a poison queue; `down` makes every send fail, as a storage outage would. */
export class InMemoryPoisonQueue implements PoisonQueue {
  readonly texts: string[] = [];
  down = false;

  constructor(readonly name = 'test-queue-poison') {}

  async enqueueText(text: string): Promise<void> {
    if (this.down)
      throw Object.assign(new Error('queue unavailable'), { name: 'RestError', statusCode: 503 });
    this.texts.push(text);
  }
}
