import type { Clock } from '../clock';
import type { EndpointRegistry } from '../endpoints/EndpointRegistry';
import type { ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import { DependencyUnavailableError } from '../errors';
import type { Logger } from '../logging';
import { errorName } from '../networkErrors';
import { supportsRotation } from './EndpointKeyClientRouter';
import { needsOperator, OPERATOR_REMINDER_MS } from './errors';
import type { RotationJobQueue } from './RotationJob';
import { isRotationRunning, type RotationJournal, type RotationState } from './RotationJournal';
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
 * Finds the endpoints that are due (never rotated, last rotation at least a period ago, or a rotation
 * left half-done) or whose journal holds an event a stopped run did not send (disabled endpoints
 * included), and not being rotated right now nor waiting for a person to fix their last failure, and
 * enqueues one job each. The timer takes no lease:
 * duplicates (two instances' ticks, or a run that starts just after the check) are harmless, because
 * the rotator re-checks "due" under the endpoint's lease.
 */
export class RotationScheduler {
  constructor(private readonly options: RotationSchedulerOptions) {}

  /**
   * @param now - epoch ms (or a Date); defaults to the clock
   * @returns how many endpoints were due, how many jobs were enqueued, and for how many endpoints the
   *   check or the enqueue failed (they are tried again next tick)
   * @throws DependencyUnavailableError when it failed for every endpoint it looked at (journal or queue down),
   *   so the timer's run shows as failed rather than as a quiet round
   */
  async enqueueDue(
    now: number | Date = this.options.clock.now(),
  ): Promise<{ due: number; enqueued: number; failed: number }> {
    const at = typeof now === 'number' ? now : now.getTime();
    const { registry, logger } = this.options;
    // Disabled endpoints are looked at too: one may still hold an event to send.
    const candidates = (await registry.list()).filter(
      (e) => !e.retiredAt && e.authMode === 'Key' && supportsRotation(e.kind),
    );
    let due = 0;
    let enqueued = 0;
    let failed = 0;
    await forEachLimited(candidates, this.options.concurrency ?? 16, async (endpoint) => {
      try {
        if (!(await this.needsJob(endpoint, at))) return;
        due += 1;
        await this.options.jobs.enqueue({
          endpointId: endpoint.id,
          reason: 'schedule',
          requestedAt: new Date(at).toISOString(),
        });
        enqueued += 1;
      } catch (error) {
        failed += 1;
        logger.warn('enqueueDue => endpoint skipped this round', {
          endpointId: endpoint.id,
          error: errorName(error),
        });
      }
    });
    // Disabled endpoints are counted apart, so that `endpoints` is not read as the number kept rotating.
    const disabled = candidates.filter((e) => !e.enabled).length;
    logger.info('enqueueDue => done', { endpoints: candidates.length, disabled, due, enqueued, failed });
    if (failed > 0 && failed === candidates.length)
      throw new DependencyUnavailableError(
        'journal',
        `No endpoint could be checked or enqueued this round (${failed} failed); the next tick tries again.`,
      );
    return { due, enqueued, failed };
  }

  private async needsJob(endpoint: ManagedEndpoint, now: number): Promise<boolean> {
    const { state, lease } = await this.options.journal.getState(endpoint.id);
    // A run at work finishes the rotation, or the host retries its message; a job queued now would only
    // find the endpoint busy. A crashed run's lease lapses, and the tick after that resumes its rotation,
    // or sends the event it journaled and stopped before sending.
    if (isRotationRunning(lease)) return false;
    if (state.unsentEvent !== undefined) return true;
    if (!endpoint.enabled || awaitsOperator(state, now)) return false;
    return state.active !== undefined || isDue(endpoint, state, undefined, now);
  }
}

/**
 * When the timer takes up again an endpoint whose last run failed in a way only a person can fix, or
 * undefined when it is not waiting: every tick until then would fail and alert again. The fix ends with
 * `POST …/rotate`, which the timer does not wait for; drift fixed by hand also ends the wait once a drift
 * check (the new version's event) finds the keys in sync. The status API shows it.
 */
export function operatorHoldEndsAt(state: RotationState): number | undefined {
  const failure = state.lastError;
  if (state.lastOutcome !== 'failed' || failure === undefined || !needsOperator(failure.code))
    return undefined;
  if (failure.code === 'DRIFT_DETECTED' && state.drift?.detected === false) return undefined;
  const at = Date.parse(failure.at);
  return Number.isNaN(at) ? undefined : at + OPERATOR_REMINDER_MS;
}

function awaitsOperator(state: RotationState, now: number): boolean {
  const endsAt = operatorHoldEndsAt(state);
  return endsAt !== undefined && now < endsAt;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
