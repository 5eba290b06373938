/** Why a rotation was requested. */
export const ROTATION_REASONS = ['schedule', 'manual', 'nearExpiry', 'expired', 'drift'] as const;
export type RotationReason = (typeof ROTATION_REASONS)[number];

/** One queue message: rotate this endpoint. Duplicates are harmless (lease + journal). */
export interface RotationJob {
  endpointId: string;
  reason: RotationReason;
  /** Set for `expired`: may skip the grace period when that is safe. */
  urgent?: boolean;
  /** ISO time the job was requested. */
  requestedAt: string;
  /**
   * Set for `manual`: the id of the `POST …/rotate` that queued it, whose note in the journal
   * (`queuedManual`) the worker drops once it is done with the job.
   */
  requestId?: string;
  /** How many times ARM throttling already pushed this job back (see `RotationJobHandler`). */
  deferrals?: number;
}

/** Where rotation jobs go (port; `StorageJsonQueue` is the Storage queue adapter). */
export interface RotationJobQueue {
  /**
   * Enqueues one job.
   * @param options - `delaySeconds`: the job stays invisible that long (throttled jobs wait out ARM).
   *   `abortSignal`: the caller gave up (an Event Grid delivery out of time); the send and its retries stop
   *   (one aborted after the queue took it leaves the job there: duplicates are harmless)
   */
  enqueue(job: RotationJob, options?: { delaySeconds?: number; abortSignal?: AbortSignal }): Promise<void>;
}
