import type { RotationJob, RotationJobQueue } from '../../../shared/rotation/RotationJob';

/** Records enqueued jobs. */
export class InMemoryRotationJobQueue implements RotationJobQueue {
  readonly jobs: RotationJob[] = [];

  async enqueue(job: RotationJob): Promise<void> {
    this.jobs.push(job);
  }
}
