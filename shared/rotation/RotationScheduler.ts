import type { Clock } from '../clock';
import type { EndpointRegistry } from '../endpoints/EndpointRegistry';
import { HOUR_MS, type ManagedEndpoint, unknownHere } from '../endpoints/ManagedEndpoint';
import { eachEndpoint, IdTally } from '../endpoints/registryWalk';
import { DependencyUnavailableError } from '../errors';
import { forEachLimited } from '../forEachLimited';
import type { Logger, LogProps } from '../logging';
import { errorName } from '../networkErrors';
import { supportsRotation } from './EndpointKeyClientRouter';
import { operatorHoldEndsAt } from './operatorHold';
import type { RotationJobQueue } from './RotationJob';
import {
  isRotationRunning,
  manualRotationQueued,
  QUEUED_JOB_WAIT_MS,
  queuedJobWaits,
  type RotationJournal,
  type RotationState,
} from './RotationJournal';
import { isDue } from './RotationPlanner';

/** Dependencies of {@link RotationScheduler}. */
export interface RotationSchedulerOptions {
  registry: EndpointRegistry;
  journal: RotationJournal;
  jobs: RotationJobQueue;
  clock: Clock;
  logger: Logger;
  /** Journal reads and enqueues in flight at once. @default 16 */
  concurrency?: number;
}

/**
 * How often a round still going logs how far it got. A round over 5,000 endpoints takes seconds while
 * storage answers promptly; one that runs for minutes (storage throttling, a slow queue) says so while
 * it runs, rather than only at its end or not at all if the host stops it at its function timeout.
 */
const PROGRESS_EVERY_MS = 60_000;

/** What a round counts, as its summary line logs it. */
interface RoundCounts {
  /** Endpoints looked at: not retired, key auth, of a kind that rotates (disabled ones included). */
  endpoints: number;
  disabled: number;
  due: number;
  enqueued: number;
  failed: number;
  /** Needing a job, but the one an earlier tick queued may still be waiting. */
  waiting: number;
  /**
   * Not retired, of a kind or auth mode this version does not know (a newer version registered them, during a
   * rolling deployment): left to that version's timer, not counted in `endpoints`; logged only when not 0.
   */
  notKnownHere: number;
  /**
   * Stored rows that cannot be read (edited by hand), skipped by the listing (which warns about each with what
   * is wrong) and not counted in `endpoints`; logged, with the first few ids, only when not 0.
   */
  unreadable: IdTally;
  /**
   * Table rows at the Azure ML endpoint, or with the Key Vault secret, of an `ENDPOINTS_FILE` entry under another
   * id, not queued (the entry rotates those keys, or into that secret) and not counted in `endpoints`; logged,
   * with the first few ids, only when not 0.
   */
  declaredInFile: IdTally;
}

/**
 * Finds the endpoints that are due (never rotated, last rotation at least a period ago, or a rotation
 * left half-done) or whose journal holds an event a stopped run did not send (disabled endpoints
 * included), and not being rotated right now, nor waiting for a person to fix their last failure, nor
 * with a job queued that may still be waiting ({@link QUEUED_JOB_WAIT_MS}; a run's journal write since
 * ends that wait), and enqueues one job each, noting the time in the journal (`enqueuedAt`). The
 * timer takes no lease: duplicates (two instances' ticks, a run that starts just after the check, a job
 * queued by an event or an operator) are harmless, because the rotator re-checks "due" under the
 * endpoint's lease.
 */
export class RotationScheduler {
  constructor(private readonly options: RotationSchedulerOptions) {}

  /**
   * @param now - epoch ms; defaults to the clock
   * @returns how many endpoints were due, how many jobs were enqueued, and for how many endpoints the
   *   check or the enqueue failed (they are tried again next tick)
   * @throws DependencyUnavailableError when it failed for every endpoint it looked at (journal or queue down),
   *   so the timer's run shows as failed rather than as a quiet round; the registry's own error when a page
   *   of it could not be read (the jobs queued before that stay queued)
   */
  async enqueueDue(
    now: number = this.options.clock.now(),
  ): Promise<{ due: number; enqueued: number; failed: number }> {
    const { registry, logger, clock } = this.options;
    const round: RoundCounts = {
      endpoints: 0,
      disabled: 0,
      due: 0,
      enqueued: 0,
      failed: 0,
      waiting: 0,
      notKnownHere: 0,
      unreadable: new IdTally(),
      declaredInFile: new IdTally(),
    };
    const startedAt = clock.now();
    let loggedAt = startedAt;
    // The last endpoint taken: ids come in key order, so it says how far into the registry the round got.
    let through: string | undefined;
    // Page by page: the round holds one page of endpoints and the counts, whatever the registry's size. The
    // listing warns about each unreadable row with its cause; the round sums them up, once per tick.
    const endpoints = eachEndpoint((request) => registry.listPage(request), round.unreadable);
    try {
      await forEachLimited(endpoints, this.options.concurrency ?? 16, async (endpoint) => {
        through = endpoint.id;
        // Disabled endpoints are looked at too: one may still hold an event to send.
        if (endpoint.retiredAt) return;
        // A job queued here for one a newer version registered would only be put back on the queue.
        if (unknownHere(endpoint)) {
          round.notKnownHere += 1;
          return;
        }
        if (endpoint.authMode !== 'Key' || !supportsRotation(endpoint.kind)) return;
        if (await this.declaredInFile(endpoint, round)) return;
        round.endpoints += 1;
        // Counted apart, so that `endpoints` is not read as the number kept rotating.
        if (!endpoint.enabled) round.disabled += 1;
        await this.enqueueIfNeeded(endpoint, now, round);
        if (clock.now() - loggedAt < PROGRESS_EVERY_MS) return;
        loggedAt = clock.now();
        logger.info('enqueueDue => in progress', {
          ...logged(round),
          through,
          elapsedMs: loggedAt - startedAt,
        });
      });
    } catch (error) {
      // The registry failed partway: the jobs queued so far stay queued (the next tick does not queue them
      // again), and the endpoints after `through` wait for that tick.
      logger.warn('enqueueDue => stopped, registry not read to the end', {
        ...logged(round),
        through,
        elapsedMs: clock.now() - startedAt,
        error: errorName(error),
      });
      throw error;
    }
    logger.info('enqueueDue => done', { ...logged(round), elapsedMs: clock.now() - startedAt });
    const { due, enqueued, failed } = round;
    if (failed > 0 && failed === round.endpoints)
      throw new DependencyUnavailableError(
        'journal',
        `No endpoint could be checked or enqueued this round (${failed} failed); the next tick tries again.`,
      );
    return { due, enqueued, failed };
  }

  /**
   * Whether the endpoint is a table row that collides with an `ENDPOINTS_FILE` entry (registered before the file
   * declared it): the entry, the operator's declared truth, rotates the keys of its endpoint into its secret, and
   * a job for a row at that endpoint would regenerate the key the entry just stored, one for a row with that
   * secret store its own endpoint's keys over the entry's. Counted in `round`; a row at the entry's endpoint is
   * named each tick until a person DELETEs it, one with its secret once per process by the registry
   * (`fileEntryClash`). The rotator skips their jobs all the same.
   */
  private async declaredInFile(endpoint: ManagedEndpoint, round: RoundCounts): Promise<boolean> {
    const clash = await this.options.registry.fileEntryClash(endpoint);
    if (clash === undefined) return false;
    round.declaredInFile.add(endpoint.id);
    if (clash.shares === 'endpoint')
      this.options.logger.warn(
        'enqueueDue => endpoint declared in ENDPOINTS_FILE too, not rotated, DELETE it',
        {
          endpointId: endpoint.id,
          alsoRegisteredAs: clash.entry,
        },
      );
    return true;
  }

  /** Checks one endpoint and queues its job if it needs one, counting the outcome in `round`. */
  private async enqueueIfNeeded(endpoint: ManagedEndpoint, now: number, round: RoundCounts): Promise<void> {
    try {
      const need = await this.needsJob(endpoint, now);
      if (need === 'queued') round.waiting += 1;
      if (need !== true) return;
      round.due += 1;
      const requestedAt = new Date(now).toISOString();
      await this.options.jobs.enqueue({ endpointId: endpoint.id, reason: 'schedule', requestedAt });
      round.enqueued += 1;
      await this.markEnqueued(endpoint, requestedAt);
    } catch (error) {
      round.failed += 1;
      this.options.logger.warn('enqueueDue => endpoint skipped this round', {
        endpointId: endpoint.id,
        error: errorName(error),
      });
    }
  }

  /**
   * Whether the endpoint needs a job now; `'queued'` when it would, but the job an earlier tick queued may
   * still be waiting on the queue.
   */
  private async needsJob(endpoint: ManagedEndpoint, now: number): Promise<boolean | 'queued'> {
    const { state, lease } = await this.options.journal.getState(endpoint.id);
    // A run at work finishes the rotation, or the host retries its message; a job queued now would only
    // find the endpoint busy. A crashed run's lease lapses, and the tick after that resumes its rotation,
    // or sends the event it journaled and stopped before sending.
    if (isRotationRunning(lease)) return false;
    const needed =
      state.unsentEvent !== undefined ||
      (endpoint.enabled && !awaitsOperator(state, now) && jobRotates(endpoint, state, now));
    return needed && timerJobWaits(endpoint, state, now) ? 'queued' : needed;
  }

  /**
   * Notes the job in the journal; a mark that fails only means the next tick may queue a duplicate, which
   * the run skips, so the job counts as enqueued all the same.
   */
  private async markEnqueued(endpoint: ManagedEndpoint, at: string): Promise<void> {
    try {
      await this.options.journal.markEnqueued(endpoint.id, at);
    } catch (error) {
      this.options.logger.warn('enqueueDue => job queued, journal not marked', {
        endpointId: endpoint.id,
        error: errorName(error),
      });
    }
  }
}

/**
 * Whether the job queued at `state.enqueuedAt` may still be waiting on the queue: it was queued less than
 * {@link QUEUED_JOB_WAIT_MS} (or the endpoint's period) ago, and no run has written the journal since
 * (each run's write drops the mark, `HeldLease.write`; a job put back by the worker marks it again). A
 * mark further in the future than that (a clock far off) does not hold the endpoint back either.
 */
function timerJobWaits(endpoint: ManagedEndpoint, state: RotationState, now: number): boolean {
  return queuedJobWaits(
    state.enqueuedAt,
    now,
    Math.min(QUEUED_JOB_WAIT_MS, endpoint.rotationPeriodHours * HOUR_MS),
  );
}

/**
 * The time (`state.enqueuedAt`) the timer queued a job for the endpoint, or the worker put one back, while it
 * may still wait ({@link timerJobWaits}) and would rotate the endpoint or resume its rotation: the admin API's
 * `POST …/rotate` refuses to queue a second one then, held off no longer than the timer is. A mark whose job
 * finds nothing to do does not count: one that landed after the last write of a run that rotated the endpoint
 * meanwhile (a tick that read the row just before) stays until it lapses, its job skipped as not due.
 * @param now - epoch ms
 */
function scheduledJobQueued(
  endpoint: ManagedEndpoint,
  state: RotationState,
  now: number,
): string | undefined {
  return jobRotates(endpoint, state, now) && timerJobWaits(endpoint, state, now)
    ? state.enqueuedAt
    : undefined;
}

/**
 * Whether a job run now would rotate the endpoint (it is due) or resume its rotation: what the timer queues a job
 * for, and what a waiting timer's job must do to refuse `POST …/rotate` ({@link scheduledJobQueued}).
 * @param now - epoch ms
 */
function jobRotates(endpoint: ManagedEndpoint, state: RotationState, now: number): boolean {
  return state.active !== undefined || isDue(endpoint, state, undefined, now);
}

/** A rotation job waiting for the worker, which `POST …/rotate` answers 409 `ROTATION_ALREADY_QUEUED` for. */
export interface WaitingRotationJob {
  /** ISO time it was queued. */
  readonly queuedAt: string;
  /**
   * `operator`: an earlier `POST …/rotate` (the journal's `queuedManual`); `timer`: the rotation timer, or the
   * worker that put a job back on the queue (`enqueuedAt`).
   */
  readonly queuedBy: 'operator' | 'timer';
}

/**
 * The job waiting for the endpoint that the admin API's `POST …/rotate` refuses a second one for, and the status
 * shows (`rotationQueued`): an operator's earlier request first ({@link manualRotationQueued}), so the answer
 * names that request also while a copy the worker put back carries the timer's mark, then the timer's
 * ({@link scheduledJobQueued}). One rule for both, so the status shows exactly what the POST would answer.
 * @param now - epoch ms
 */
export function waitingRotationJob(
  endpoint: ManagedEndpoint,
  state: RotationState,
  now: number,
): WaitingRotationJob | undefined {
  const manual = manualRotationQueued(state, now);
  if (manual !== undefined) return { queuedAt: manual, queuedBy: 'operator' };
  const scheduled = scheduledJobQueued(endpoint, state, now);
  return scheduled !== undefined ? { queuedAt: scheduled, queuedBy: 'timer' } : undefined;
}

/**
 * A round's counts as logged: `notKnownHere` only when there are such endpoints (during a rolling deployment),
 * `unreadable` and `unreadableIds` (comma-separated) only when rows were skipped, `declaredInFile` and
 * `declaredInFileIds` only when rows at a file entry's endpoint, or with its secret, were left to it.
 */
function logged(round: RoundCounts): LogProps {
  const { notKnownHere, unreadable, declaredInFile, ...counts } = round;
  return {
    ...counts,
    ...(notKnownHere > 0 ? { notKnownHere } : {}),
    ...unreadable.logged('unreadable'),
    ...declaredInFile.logged('declaredInFile'),
  };
}

function awaitsOperator(state: RotationState, now: number): boolean {
  const endsAt = operatorHoldEndsAt(state);
  return endsAt !== undefined && now < endsAt;
}
