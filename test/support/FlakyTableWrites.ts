import { type PipelinePolicy, RestError } from '@azure/core-rest-pipeline';

/**
 * A `TableClient` pipeline policy (`position: 'perRetry'`) that misbehaves on the next entity write when
 * a test asks it to: the answer is lost after the write landed, the connection is refused, or something
 * else (another run, another admin call) happens first; or, while `down`, refuses every write.
 * Reads and table creation pass untouched.
 */
export class FlakyTableWrites {
  /** While true, every write fails to connect (storage unreachable). */
  down = false;
  private dropAnswer = false;
  private meanwhile: (() => Promise<void>) | undefined;
  private refuse = false;

  readonly policy: PipelinePolicy = {
    name: 'flakyTableWrites',
    sendRequest: async (request, next) => {
      if (request.method === 'GET' || request.url.endsWith('/Tables')) return next(request);
      const meanwhile = this.meanwhile;
      const refuse = this.refuse || this.down;
      this.meanwhile = undefined;
      this.refuse = false;
      await meanwhile?.();
      if (refuse) throw new RestError('connect ECONNREFUSED', { code: 'ECONNREFUSED', request });
      const response = await next(request);
      if (!this.dropAnswer) return response;
      this.dropAnswer = false;
      throw new RestError('socket hang up', { code: 'ECONNRESET', request });
    },
  };

  /** The next write reaches the service, but its answer is lost (the SDK retries it). */
  dropNextAnswer(): void {
    this.dropAnswer = true;
  }

  /** Runs `meanwhile` just before the next write is sent. */
  beforeNextWrite(meanwhile: () => Promise<void>): void {
    this.meanwhile = meanwhile;
  }

  /** Runs `meanwhile`, then fails the next write to connect (the SDK retries it). */
  failNextWriteAfter(meanwhile: () => Promise<void>): void {
    this.meanwhile = meanwhile;
    this.refuse = true;
  }

  /** True while a requested fault has not happened yet. */
  get pending(): boolean {
    return this.dropAnswer || this.meanwhile !== undefined;
  }
}
