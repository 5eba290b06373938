import type { RotationJob, RotationJobQueue } from '../../../shared/rotation/RotationJob';

/** Records enqueued jobs. */
export class InMemoryRotationJobQueue implements RotationJobQueue {
  readonly jobs: RotationJob[] = [];
  /** The `delaySeconds` each job was enqueued with (0 when none), by position in `jobs`. */
  readonly delays: number[] = [];

  async enqueue(
    job: RotationJob,
    options: { delaySeconds?: number; abortSignal?: AbortSignal } = {},
  ): Promise<void> {
    // As the queue: a send its caller gave up before it began is not sent.
    options.abortSignal?.throwIfAborted();
    this.jobs.push(job);
    this.delays.push(options.delaySeconds ?? 0);
  }
}
