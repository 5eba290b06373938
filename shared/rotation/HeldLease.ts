import type { Repeat } from '../clock';
import { LeaseLostError } from './errors';
import type { JournalEntry, Lease, RotationJournal } from './RotationJournal';

/**
 * The lease one rotation run holds on its endpoint, and the only way that run writes its journal. A run
 * whose lease lapsed during a slow step (retries, a long LRO) may have been taken over by another run,
 * which can have finished the rotation; an unfenced write would put back a step the rotation has left,
 * or mark a rotation failed that succeeded. Every {@link write} therefore renews the lease in the same
 * atomic journal operation, and a lapsed run gets `LeaseLostError` with nothing written.
 */
export class HeldLease {
  constructor(
    private readonly journal: RotationJournal,
    private lease: Lease,
    private readonly ttlMs: number,
  ) {}

  /**
   * Takes the endpoint's lease for `ttlMs` when it is free, expired or already `owner`'s
   * (`RotationJournal.acquireLease`); undefined when another owner holds it.
   */
  static async acquire(
    journal: RotationJournal,
    endpointId: string,
    owner: string,
    ttlMs: number,
  ): Promise<HeldLease | undefined> {
    const lease = await journal.acquireLease(endpointId, owner, ttlMs);
    return lease && new HeldLease(journal, lease, ttlMs);
  }

  /** Runs `work` under the lease, then gives the lease up, whether `work` returned or threw. */
  async releaseAfter<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } finally {
      await this.release();
    }
  }

  /** Extends the lease; throws `LeaseLostError` when another run holds it now. */
  async renew(): Promise<void> {
    this.lease = await this.journal.renewLease(this.lease, this.ttlMs);
  }

  /**
   * Runs `work`, a step with no natural pause to renew in (the set step's regenerate: up to a minute
   * waiting for ARM's write throttle, then a long-running operation), renewing the lease every third of
   * its life meanwhile. Renewals run one at a time and the last has settled when this returns, so the
   * next {@link write} carries the lease's current ETag. A renewal refused because another run took the
   * lease surfaces as `LeaseLostError` once `work` settles, in place of its result: the run must stop.
   * @param repeat - the timer (`realRepeat`; the fake clock's in tests)
   */
  async keptAliveWhile<T>(work: () => Promise<T>, repeat: Repeat): Promise<T> {
    let renewals = Promise.resolve();
    let lost: LeaseLostError | undefined;
    const stop = repeat(this.ttlMs / 3, () => {
      renewals = renewals.then(() =>
        lost
          ? undefined
          : this.renew().catch((error: unknown) => {
              // Any other failure (the journal's own retries gave up): the next tick tries again, and the
              // next journal write is the fence either way.
              if (error instanceof LeaseLostError) lost = error;
            }),
      );
    });
    const outcome = await work().then(
      (value) => ({ done: true as const, value }),
      (error: unknown) => ({ done: false as const, error }),
    );
    stop();
    await renewals;
    if (lost) throw lost;
    if (!outcome.done) throw outcome.error;
    return outcome.value;
  }

  /**
   * Writes the journal and extends the lease, atomically; `LeaseLostError` when it is no longer ours. The
   * state row is written without the timer's `enqueuedAt`: a run at work has taken a job up, so should it
   * stop (a crash, a failure), the timer queues the endpoint again at its next tick, as it did before.
   */
  async write(entry: JournalEntry): Promise<void> {
    const { enqueuedAt: _taken, ...state } = entry.state;
    this.lease = await this.journal.write(this.lease, this.ttlMs, { ...entry, state });
  }

  /** Best effort: an unreleased lease simply expires. */
  private async release(): Promise<void> {
    await this.journal.releaseLease(this.lease).catch(() => undefined);
  }
}
