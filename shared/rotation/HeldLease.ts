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

  /** Extends the lease; throws `LeaseLostError` when another run holds it now. */
  async renew(): Promise<void> {
    this.lease = await this.journal.renewLease(this.lease, this.ttlMs);
  }

  /** Writes the journal and extends the lease, atomically; `LeaseLostError` when it is no longer ours. */
  async write(entry: JournalEntry): Promise<void> {
    this.lease = await this.journal.write(this.lease, this.ttlMs, entry);
  }

  /** Best effort: an unreleased lease simply expires. */
  async release(): Promise<void> {
    await this.journal.releaseLease(this.lease).catch(() => undefined);
  }
}
