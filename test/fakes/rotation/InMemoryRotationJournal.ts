import { LeaseLostError } from '../../../shared/rotation/errors';
import { leaseFreeStateEdits } from '../../../shared/rotation/leaseFreeStateEdits';
import {
  type JournalEntry,
  type Lease,
  type QueuedManualRotation,
  type RotationJournal,
  type RotationState,
  type StepRecord,
} from '../../../shared/rotation/RotationJournal';
import type { FakeClock } from '../FakeClock';
import { FaultPlan } from './FaultPlan';

interface LeaseRow {
  owner: string;
  expiresAt: number;
  etag: string;
}

/**
 * The journal in memory, with the same conditional-write lease semantics (and atomic fenced writes) as
 * the Table adapter.
 */
export class InMemoryRotationJournal implements RotationJournal {
  private readonly leases = new Map<string, LeaseRow>();
  private readonly states = new Map<string, RotationState>();
  /** The lease-free edits (the timer's mark, an operator's note), on {@link editStateOnce}. */
  private readonly edits = leaseFreeStateEdits((endpointId, edit) => this.editStateOnce(endpointId, edit));
  readonly steps: StepRecord[] = [];
  /** Renewals that came after the lease had expired: windows in which another run could have taken over. */
  lapsedRenewals = 0;
  /** The next this many renewals fail as they would with Table storage out of reach (writes renew too). */
  failRenewals = 0;
  private etagCounter = 0;

  constructor(
    private readonly clock: FakeClock,
    readonly faults: FaultPlan = new FaultPlan(),
  ) {}

  /** Every row as JSON text, for leak scans. */
  dump(): string {
    return JSON.stringify({ leases: [...this.leases], states: [...this.states], steps: this.steps });
  }

  async acquireLease(endpointId: string, owner: string, ttlMs: number): Promise<Lease | undefined> {
    this.faults.check();
    const existing = this.leases.get(endpointId);
    const now = this.clock.now();
    if (existing && existing.owner !== owner && existing.expiresAt > now) return undefined;
    // Yield once, as a network round trip would, so concurrent callers interleave like real ones.
    const seenEtag = existing?.etag;
    await Promise.resolve();
    if (this.leases.get(endpointId)?.etag !== seenEtag) return undefined;
    const row = { owner, expiresAt: now + ttlMs, etag: this.nextEtag() };
    this.leases.set(endpointId, row);
    return { endpointId, ...row };
  }

  async renewLease(lease: Lease, ttlMs: number): Promise<Lease> {
    this.faults.check();
    if (this.failRenewals > 0) {
      this.failRenewals -= 1;
      throw new Error('simulated storage outage');
    }
    const existing = this.leases.get(lease.endpointId);
    if (existing?.etag !== lease.etag) throw new LeaseLostError(lease.endpointId);
    if (existing.expiresAt <= this.clock.now()) this.lapsedRenewals += 1;
    const row = { owner: lease.owner, expiresAt: this.clock.now() + ttlMs, etag: this.nextEtag() };
    this.leases.set(lease.endpointId, row);
    return { endpointId: lease.endpointId, ...row };
  }

  async releaseLease(lease: Lease): Promise<void> {
    this.faults.check();
    if (this.leases.get(lease.endpointId)?.etag === lease.etag) this.leases.delete(lease.endpointId);
  }

  async getState(
    endpointId: string,
  ): Promise<{ state: RotationState; lease?: { owner: string; expiresAt: number } }> {
    this.faults.check();
    const lease = this.leases.get(endpointId);
    const live = lease && lease.expiresAt > this.clock.now();
    return {
      state: this.states.get(endpointId) ?? {},
      ...(live ? { lease: { owner: lease.owner, expiresAt: lease.expiresAt } } : {}),
    };
  }

  async write(lease: Lease, ttlMs: number, entry: JournalEntry): Promise<Lease> {
    const renewed = await this.renewLease(lease, ttlMs);
    this.states.set(lease.endpointId, JSON.parse(JSON.stringify(entry.state)) as RotationState);
    if (entry.step) this.steps.push({ endpointId: lease.endpointId, ...entry.step });
    this.faults.mutated('journal.write');
    return renewed;
  }

  markEnqueued(endpointId: string, at: string): Promise<boolean> {
    return this.edits.markEnqueued(endpointId, at);
  }

  markManualRotation(
    endpointId: string,
    request: QueuedManualRotation,
    waits: (queuedAt: string) => boolean,
  ): Promise<string | undefined> {
    return this.edits.markManualRotation(endpointId, request, waits);
  }

  clearManualRotation(endpointId: string, requestId: string): Promise<void> {
    return this.edits.clearManualRotation(endpointId, requestId);
  }

  /** Test set-up: a state row as an earlier run would have left it (no lease, no fault). */
  seedState(endpointId: string, state: RotationState): void {
    this.states.set(endpointId, state);
  }

  /** As the Table adapter's: read, edit, write if nobody wrote in between; false when someone did. */
  private async editStateOnce(
    endpointId: string,
    edit: (state: RotationState) => RotationState | undefined,
  ): Promise<boolean> {
    this.faults.check();
    const seen = this.states.get(endpointId);
    const next = edit(seen ?? {});
    if (!next) return true;
    // Yield once, as the read and the conditional write would; a write meanwhile wins.
    await Promise.resolve();
    if (this.states.get(endpointId) !== seen) return false;
    this.states.set(endpointId, next);
    return true;
  }

  private nextEtag(): string {
    this.etagCounter += 1;
    return `W/"${this.etagCounter}"`;
  }
}
