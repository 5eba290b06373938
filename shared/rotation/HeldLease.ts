import { LeaseLostError } from './errors';
import type { Lease, RotationJournal } from './RotationJournal';

/**
 * The lease one rotation run holds on its endpoint. Journal writes go through {@link fenced}: a run whose
 * lease lapsed during a slow step (retries, a long LRO) may have been taken over by another run, which can
 * have finished the rotation; an unfenced write would put back a step the rotation has left, or mark a
 * rotation failed that succeeded. Fenced, the lapsed run stops with `LeaseLostError` and writes nothing.
 */
export class HeldLease {
  constructor(
    private readonly journal: RotationJournal,
    private lease: Lease,
    private readonly ttlMs: number,
  ) {}

  /** Extends the lease; throws `LeaseLostError` when another run holds it now. */
  async renew(): Promise<void> {
    this.lease = await this.journal.renewLease(this.lease, this.ttlMs);
  }

  /** Runs a journal write right after renewing, so only the lease holder's writes land. */
  async fenced<T>(write: () => Promise<T>): Promise<T> {
    await this.renew();
    return write();
  }

  /** False when the lease has passed to another run (its journal is no longer ours to write). */
  async stillHeld(): Promise<boolean> {
    try {
      await this.renew();
      return true;
    } catch (error) {
      if (error instanceof LeaseLostError) return false;
      return true; // the journal itself failing: recording the failure is still worth a try
    }
  }

  /** Best effort: an unreleased lease simply expires. */
  async release(): Promise<void> {
    await this.journal.releaseLease(this.lease).catch(() => undefined);
  }
}
