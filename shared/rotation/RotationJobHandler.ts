import { randomUUID } from 'node:crypto';

import { type Clock, isoNow } from '../clock';
import { ValidationError } from '../errors';
import type { Logger } from '../logging';
import {
  formatOf,
  type MalformedMessage,
  MAX_DEQUEUE_COUNT,
  moveToPoison,
  type PoisonQueue,
  queueMessageFields,
} from '../queueMessage';
import { ArmThrottledError, errorCode, LeaseLostError } from './errors';
import { HeldLease } from './HeldLease';
import type { KeyRotator, RotationOutcome } from './KeyRotator';
import { needsOperator } from './operatorHold';
import { ROTATION_REASONS, type RotationJob, type RotationJobQueue } from './RotationJob';
import type { RotationJournal } from './RotationJournal';
import type { RotationRecorder } from './RotationRecorder';

/** Least delay before a "rotate now" that met a running rotation is tried again. */
const BUSY_RETRY_SECONDS = 30;

/** Least delay before a job of a newer format is offered again, for an instance of its version to take. */
const NEWER_FORMAT_RETRY_SECONDS = 60;

/** The newest job format this version reads (`formatOf`). */
const JOB_FORMAT = 1;

/** How long writing a poison record holds the endpoint's lease: one read and one journal write. */
const POISON_LEASE_MS = 60_000;

/**
 * What one queue message came to: the run's outcome, or a failure the handler completes the message
 * for instead of rethrowing it.
 */
export type RotationJobOutcome =
  | RotationOutcome
  /** Not a job at all: moved to the poison queue on its first delivery. */
  | MalformedMessage
  | {
      /**
       * Stopped by ARM throttling, or written by a newer version in a format this one does not read; a
       * copy of the job waits on the queue.
       */
      readonly status: 'skipped';
      readonly endpointId: string;
      readonly reason: 'throttled' | 'newerFormat';
      readonly detail: string;
    }
  | {
      /** Journaled and published; left for a person to fix (`needsOperator`), so not retried. */
      readonly status: 'failed';
      readonly endpointId: string;
      readonly code: string;
    };

/** Dependencies of {@link RotationJobHandler}. */
export interface RotationJobHandlerOptions {
  rotator: Pick<KeyRotator, 'run'>;
  journal: RotationJournal;
  /** Writes the poison record of a job's last delivery. */
  recorder: Pick<RotationRecorder, 'poisoned'>;
  /** `<ROTATION_QUEUE>-poison`, where a message that is not a job goes on its first delivery. */
  poison: PoisonQueue;
  /** Time of the timer's note when a job is put back on the queue. */
  clock: Clock;
  logger: Logger;
  /** host.json `extensions.queues.maxDequeueCount`. @default 5 */
  maxDequeueCount?: number;
  /** Where a job throttled by ARM is put back with a delay; without it, throttled jobs fail like others. */
  jobs?: RotationJobQueue;
  /** How often one job may be pushed back by throttling before it counts as failing. @default 50 */
  maxDeferrals?: number;
  /** Jitter source for the push-back delay. @default Math.random */
  random?: () => number;
}

/**
 * Turns one queue message into one rotation run. Failures are rethrown so the host retries the message
 * (visibility timeout, then again); on the last delivery the journal gets a `poison` record saying why,
 * because the host is about to move the message to `<queue>-poison` where nobody reads it by default.
 * A message that is not a job (it does not parse) goes there itself on its first delivery, as outcome
 * `malformed`: no delivery could run it.
 * A failure only a person can fix (`needsOperator`: drift, an unsafe regeneration, a wrong auth mode)
 * completes the message instead, as outcome `failed`: the run has journaled and published it already.
 *
 * ARM throttling is not a failure: a run stopped by `ArmThrottledError` puts a copy of its job back on
 * the queue, invisible for the `Retry-After` plus jitter (so deferred jobs do not return as one herd),
 * and completes the message. The copy starts again at dequeue count 1, so a backlog far larger than
 * ARM's write bucket never burns the message's deliveries and never reaches the poison queue. A job
 * deferred `maxDeferrals` times is handled like any failure, so permanent throttling still surfaces.
 */
export class RotationJobHandler {
  constructor(private readonly options: RotationJobHandlerOptions) {}

  /**
   * @param message - the queue message as the host hands it over (parsed JSON object or text)
   * @param dequeueCount - `triggerMetadata.dequeueCount` (1 on the first delivery)
   * @param messageId - `triggerMetadata.id`, named when a malformed message is moved to the poison queue
   */
  async handle(message: unknown, dequeueCount: number, messageId?: string): Promise<RotationJobOutcome> {
    const newer = await this.offerToNewerVersion(message, dequeueCount);
    if (newer) return newer;
    let job: RotationJob;
    try {
      job = parseRotationJob(message);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      const { poison, logger } = this.options;
      return moveToPoison(message, error, { poison, logger, what: 'job', dequeueCount, messageId });
    }
    // An operator's "rotate now" is noted in the journal while its job waits, and `POST …/rotate` refused
    // meanwhile (ROTATION_ALREADY_QUEUED). The note goes once the job is done with: not while a copy waits
    // on the queue, nor while the host delivers it again after a failure, but after its last delivery.
    const turn = { queuedAgain: false };
    try {
      const outcome = await this.run(job, dequeueCount, turn);
      if (!turn.queuedAgain) await this.clearManualNote(job);
      return outcome;
    } catch (error) {
      if (dequeueCount >= (this.options.maxDequeueCount ?? MAX_DEQUEUE_COUNT))
        await this.clearManualNote(job);
      throw error;
    }
  }

  /**
   * Runs the job; a failure the queue should retry is rethrown (journaled as poison on the last delivery).
   * @param turn - `queuedAgain` is set when a copy of the job was put back on the queue
   */
  private async run(
    job: RotationJob,
    dequeueCount: number,
    turn: { queuedAgain: boolean },
  ): Promise<RotationJobOutcome> {
    try {
      const outcome = await this.options.rotator.run(job);
      // A run at work held the lease and may only be skipping (a duplicate or not-due job): an operator's
      // "rotate now", answered 202, must not be dropped with it.
      if (job.reason === 'manual' && outcome.status === 'skipped' && outcome.reason === 'inProgress')
        return await this.deferBusy(job, turn);
      if (outcome.status === 'skipped' && outcome.reason === 'notKnownHere')
        return await this.offerToVersionThatKnows(job, outcome, turn);
      return outcome;
    } catch (error) {
      // Another run took the lapsed lease and owns the rotation now; should it die, the timer re-enqueues
      // the unfinished rotation. Retrying this message would only queue behind it (and could journal a
      // poison record over its progress).
      if (error instanceof LeaseLostError)
        return { status: 'skipped', endpointId: job.endpointId, reason: 'inProgress', detail: 'lease lost' };
      const deferred = await this.deferIfThrottled(job, error, turn);
      if (deferred) return deferred;
      // The run journaled and published this failure; every redelivery would only fail and alert again.
      const code = errorCode(error);
      if (needsOperator(code)) return { status: 'failed', endpointId: job.endpointId, code };
      if (dequeueCount >= (this.options.maxDequeueCount ?? MAX_DEQUEUE_COUNT))
        await this.recordPoison(job, error, dequeueCount);
      throw error;
    }
  }

  /**
   * A job of a format above this version's, which a newer version wrote during a rolling deployment, is
   * put back on the queue as written (one more deferral counted) for an instance of that version, instead
   * of failing it as malformed into the poison queue. Once deferred `maxDeferrals` times (no such
   * instance took it: a rollback) it is parsed like any other job, and moved there if it does not parse.
   */
  private async offerToNewerVersion(
    message: unknown,
    dequeueCount: number,
  ): Promise<RotationJobOutcome | undefined> {
    let fields: Record<string, unknown>;
    try {
      fields = queueMessageFields(message);
    } catch {
      return undefined;
    }
    const format = formatOf(fields);
    const deferrals = Number.isInteger(fields.deferrals) ? Math.max(0, fields.deferrals as number) : 0;
    const { jobs, random = Math.random, logger } = this.options;
    if (format <= JOB_FORMAT || !jobs || deferrals >= (this.options.maxDeferrals ?? 50)) return undefined;
    const endpointId = typeof fields.endpointId === 'string' ? fields.endpointId : '';
    const delaySeconds = Math.ceil(NEWER_FORMAT_RETRY_SECONDS * (1 + random()));
    // The job is this version's type only in name: every field goes back as the newer version wrote it.
    await jobs.enqueue({ ...fields, deferrals: deferrals + 1 } as unknown as RotationJob, { delaySeconds });
    logger.info('handle => job of a newer format put back for an instance that reads it', {
      endpointId,
      format,
      delaySeconds,
      deferrals: deferrals + 1,
      dequeueCount,
    });
    return {
      status: 'skipped',
      endpointId,
      reason: 'newerFormat',
      detail: `format ${format}; re-enqueued with a ${delaySeconds} s delay`,
    };
  }

  private async deferIfThrottled(
    job: RotationJob,
    error: unknown,
    turn: { queuedAgain: boolean },
  ): Promise<RotationJobOutcome | undefined> {
    if (!(error instanceof ArmThrottledError) || !this.mayDefer(job)) return undefined;
    const wait = error.retryAfterSeconds ?? 1;
    const delaySeconds = await this.putBack(job, turn, wait, Math.max(wait, 10), 'ARM is throttling writes');
    return {
      status: 'skipped',
      endpointId: job.endpointId,
      reason: 'throttled',
      detail: `re-enqueued with a ${delaySeconds} s delay`,
    };
  }

  /**
   * Puts a "rotate now" that met another run holding the lease back on the queue until the lease is free.
   * If that run rotated, the deferred job then finds the other slot within grace and skips: nothing
   * rotates twice.
   */
  private async deferBusy(job: RotationJob, turn: { queuedAgain: boolean }): Promise<RotationOutcome> {
    const skipped = (detail: string): RotationOutcome => ({
      status: 'skipped',
      endpointId: job.endpointId,
      reason: 'inProgress',
      detail,
    });
    if (!this.mayDefer(job)) return skipped('a rotation kept the lease; not tried again');
    const delaySeconds = await this.putBack(
      job,
      turn,
      BUSY_RETRY_SECONDS,
      BUSY_RETRY_SECONDS,
      'another run holds the lease',
    );
    return skipped(`another run holds the lease; re-enqueued with a ${delaySeconds} s delay`);
  }

  /**
   * A job for an endpoint of a kind or auth mode this version does not know (a newer version registered it,
   * during a rolling deployment) is put back on the queue for an instance that knows it, as a job of a
   * newer format is: skipped, a "rotate now" or an expiry's job would be lost. Once put back `maxDeferrals`
   * times (no such instance took it: a rollback) it is skipped.
   */
  private async offerToVersionThatKnows(
    job: RotationJob,
    outcome: Extract<RotationOutcome, { status: 'skipped' }>,
    turn: { queuedAgain: boolean },
  ): Promise<RotationOutcome> {
    if (!this.mayDefer(job)) return outcome;
    const delaySeconds = await this.putBack(
      job,
      turn,
      NEWER_FORMAT_RETRY_SECONDS,
      NEWER_FORMAT_RETRY_SECONDS,
      'its endpoint is of a kind or auth mode this version does not know',
    );
    return { ...outcome, detail: `${outcome.detail ?? ''}; re-enqueued with a ${delaySeconds} s delay` };
  }

  /** Whether a queue to put jobs back on is there and the job has deferrals left. */
  private mayDefer(job: RotationJob): boolean {
    return this.options.jobs !== undefined && (job.deferrals ?? 0) < (this.options.maxDeferrals ?? 50);
  }

  /**
   * Enqueues a copy of the job, invisible for `minSeconds` plus up to `jitterSeconds` (so deferred jobs do
   * not return as one herd), counting one more deferral.
   * @returns the delay chosen, in seconds
   */
  private async putBack(
    job: RotationJob,
    turn: { queuedAgain: boolean },
    minSeconds: number,
    jitterSeconds: number,
    why: string,
  ): Promise<number> {
    const { jobs, random = Math.random, logger } = this.options;
    const deferrals = (job.deferrals ?? 0) + 1;
    const delaySeconds = Math.ceil(minSeconds + random() * jitterSeconds);
    await jobs?.enqueue({ ...job, deferrals }, { delaySeconds });
    turn.queuedAgain = true;
    logger.info(`handle => job deferred, ${why}`, { endpointId: job.endpointId, delaySeconds, deferrals });
    await this.markEnqueued(job.endpointId);
    return delaySeconds;
  }

  /**
   * Notes the copy in the journal, so the timer does not queue another job for the endpoint while it waits
   * (a run that got past its first step dropped the timer's mark). Best effort: a mark that fails only
   * lets the next tick queue a duplicate, which the run skips.
   */
  private async markEnqueued(endpointId: string): Promise<void> {
    const { journal, clock, logger } = this.options;
    try {
      await journal.markEnqueued(endpointId, isoNow(clock));
    } catch (error) {
      logger.warn('handle => job deferred, journal not marked', { endpointId, error: errorCode(error) });
    }
  }

  /**
   * Drops the journal's note of the "rotate now" that queued `job`, if it was one. Best effort: a note left
   * behind only refuses `POST …/rotate` until it lapses (`QUEUED_JOB_WAIT_MS`).
   */
  private async clearManualNote(job: RotationJob): Promise<void> {
    if (job.requestId === undefined) return;
    const { journal, logger } = this.options;
    try {
      await journal.clearManualRotation(job.endpointId, job.requestId);
    } catch (error) {
      logger.warn('handle => manual rotation done, journal note not dropped', {
        endpointId: job.endpointId,
        error: errorCode(error),
      });
    }
  }

  private async recordPoison(job: RotationJob, error: unknown, dequeueCount: number): Promise<void> {
    const { journal, recorder, logger } = this.options;
    // Under the endpoint's lease like every journal write; a run holding it now owns the journal.
    try {
      const owner = `poison-${randomUUID()}`;
      const held = await HeldLease.acquire(journal, job.endpointId, owner, POISON_LEASE_MS);
      await held?.releaseAfter(() => recorder.poisoned(held, job.endpointId, error, dequeueCount));
    } catch {
      // The journal may be what is failing: the log line below still tells the story.
    }
    logger.error('handle => job goes to poison queue', {
      endpointId: job.endpointId,
      reason: job.reason,
      code: errorCode(error),
      dequeueCount,
    });
  }
}

/** Validates a queue message as a `RotationJob` (400-style `ValidationError` naming each bad field). */
export function parseRotationJob(message: unknown): RotationJob {
  const raw = queueMessageFields(message);
  const endpointId = typeof raw.endpointId === 'string' && raw.endpointId !== '' ? raw.endpointId : undefined;
  const reason = ROTATION_REASONS.find((known) => known === raw.reason);
  const issues = [];
  if (endpointId === undefined) issues.push({ field: 'endpointId', message: 'a registered endpoint id' });
  if (reason === undefined)
    issues.push({ field: 'reason', message: `one of ${ROTATION_REASONS.join(', ')}` });
  if (raw.urgent !== undefined && typeof raw.urgent !== 'boolean')
    issues.push({ field: 'urgent', message: 'true or false' });
  if (endpointId === undefined || reason === undefined || issues.length > 0)
    throw new ValidationError(issues);
  return {
    endpointId,
    reason,
    ...(raw.urgent === true ? { urgent: true } : {}),
    requestedAt: typeof raw.requestedAt === 'string' ? raw.requestedAt : new Date(0).toISOString(),
    ...(typeof raw.requestId === 'string' && raw.requestId !== '' ? { requestId: raw.requestId } : {}),
    ...(typeof raw.deferrals === 'number' && Number.isInteger(raw.deferrals) && raw.deferrals > 0
      ? { deferrals: raw.deferrals }
      : {}),
  };
}
