import { HOUR_MS, type KeySlot } from '../endpoints/ManagedEndpoint';
import type { RotationEvent } from './RotationEventSink';
import type { RotationReason } from './RotationJob';

/** A held lease: proof that this run may rotate the endpoint until `expiresAt`. */
export interface Lease {
  readonly endpointId: string;
  readonly owner: string;
  /** Epoch ms. */
  readonly expiresAt: number;
  /** Opaque concurrency token of the lease row (Table ETag). */
  readonly etag: string;
}

/** Owners of the brief lease a drift check takes start with this (see `DriftDetector`). */
export const DRIFT_LEASE_OWNER_PREFIX = 'drift-';

/**
 * Whether a live lease from `getState` means a rotation run (or its poison record) is at work on the
 * endpoint now, rather than a drift check that holds it for a moment.
 */
export function isRotationRunning(lease: { readonly owner: string } | undefined): boolean {
  return lease !== undefined && !lease.owner.startsWith(DRIFT_LEASE_OWNER_PREFIX);
}

/**
 * How long a job queued with a note in the journal may still be waiting on the queue: the timer's
 * (`enqueuedAt`), so that it is not queued again, and an operator's (`queuedManual`), so that
 * `POST …/rotate` is refused meanwhile. A backlog drains at ARM's write refill (2 writes per scheduled
 * rotation, 10/s after a burst of 200): 5,000 endpoints take about 17 minutes, longer than the default tick
 * of 15, so every tick would add a duplicate for each endpoint still waiting. An hour covers a backlog of
 * about 18,000 endpoints (four default ticks). A message lost all the same (expired, cleared by hand, a host
 * that died with it on every delivery) lets the note lapse: the timer queues the endpoint again, and it can be
 * rotated by hand again, an hour after the job was sent at the latest, a small delay against rotation
 * periods of days.
 */
export const QUEUED_JOB_WAIT_MS = HOUR_MS;

/**
 * Whether a job queued at `queuedAt` (ISO) may still wait on the queue: queued less than `waitMs` ago (or as
 * far ahead, another instance's clock being off). No time (or not one): it does not.
 * @param now - epoch ms
 */
export function queuedJobWaits(
  queuedAt: string | undefined,
  now: number,
  waitMs: number = QUEUED_JOB_WAIT_MS,
): boolean {
  return Math.abs(now - Date.parse(queuedAt ?? '')) < waitMs;
}

/** The time an operator's manual rotation was queued, while its job may still wait ({@link queuedJobWaits}). */
export function manualRotationQueued(state: RotationState, now: number): string | undefined {
  const queuedAt = state.queuedManual?.queuedAt;
  return queuedJobWaits(queuedAt, now) ? queuedAt : undefined;
}

/**
 * The edit every journal's `markManualRotation` makes of the state row it read: `request` noted, unless the
 * row notes it already (a write of ours whose answer was lost had landed) or notes another that `waits`
 * says may still wait.
 * @returns `next`: the row to write (none: leave it as it is); `waiting`: the time the waiting one was queued
 */
export function manualRotationNoted(
  state: RotationState,
  request: QueuedManualRotation,
  waits: (queuedAt: string) => boolean,
): { next?: RotationState; waiting?: string } {
  if (state.queuedManual?.requestId === request.requestId) return {};
  const waiting = state.queuedManual?.queuedAt;
  if (waiting !== undefined && waits(waiting)) return { waiting };
  return { next: { ...state, queuedManual: request } };
}

/**
 * The edit every journal's `clearManualRotation` makes of the state row it read: `queuedManual` dropped
 * while it is still request `requestId`'s; undefined (leave the row) otherwise.
 */
export function manualRotationCleared(state: RotationState, requestId: string): RotationState | undefined {
  const { queuedManual, ...rest } = state;
  return queuedManual?.requestId === requestId ? rest : undefined;
}

/** Where in the protocol a rotation failed. */
export const ROTATION_STEPS = ['plan', 'create', 'set', 'test', 'finish'] as const;
export type RotationStepName = (typeof ROTATION_STEPS)[number];

/** Steps a rotation has completed, in order. `started` = planned, nothing written yet. */
export const COMPLETED_STEPS = ['started', 'created', 'set', 'tested', 'finished'] as const;
export type CompletedStep = (typeof COMPLETED_STEPS)[number];

/** The rotation an endpoint is in the middle of. */
export interface ActiveRotation {
  readonly rotationId: string;
  readonly slot: KeySlot;
  readonly step: Exclude<CompletedStep, 'finished'>;
  readonly reason: RotationReason;
  readonly startedAt: string;
  /**
   * ISO time the set step ended: the slot has held the pending value since, and the test step's window
   * (`ROTATION_TEST_TIMEOUT_SECONDS`) runs from it, in whichever run tests. Absent when a version from
   * before it journaled the set step.
   */
  readonly setAt?: string;
  /**
   * ISO time an operator's `POST …/rotate`, asked after the test step's window had opened, opened it again
   * (`KeyRotator`): the window runs from here (or from `setAt`, when a set step done again is later), so an
   * operator who mended the scoring deployment after `NEW_KEY_NOT_ACCEPTED` gets a whole
   * `ROTATION_TEST_TIMEOUT_SECONDS`, and a run that resumes it after a cut or a crash gets what is left of
   * that. Never before the request's `requestedAt`, so a redelivery of the same job is never taken for a
   * later request. Absent until an operator asks.
   */
  readonly testWindowFrom?: string;
  /** First rotation: the main secret was just created from the other slot. */
  readonly onboarding?: boolean;
}

/** The last failure, as shown by the status API (safe message; never a key). */
export interface RotationFailure {
  readonly code: string;
  readonly message: string;
  readonly step: RotationStepName | 'poison';
  readonly at: string;
  readonly rotationId?: string;
}

/** Per-endpoint summary row. */
export interface RotationState {
  readonly active?: ActiveRotation;
  readonly lastOutcome?: 'succeeded' | 'failed' | 'skipped';
  readonly lastOutcomeAt?: string;
  readonly lastRotationId?: string;
  /**
   * ISO time of the last successful finish, or Key Vault's `rotatedAt` tag when a run found that later
   * (the journal had lost the rotation it tells of).
   */
  readonly lastRotatedAt?: string;
  readonly lastSlot?: KeySlot;
  readonly lastError?: RotationFailure;
  readonly drift?: { readonly detected: boolean; readonly at: string; readonly detail: string };
  /**
   * The `KeyRotated` event of the last finish, not yet handed to the event sink. It is written in the
   * same atomic journal write as the finish and cleared once the sink has taken it, so a run that stops
   * between the two leaves it here and the next run sends it, with the same CloudEvent id.
   */
  readonly unsentEvent?: UnsentEvent;
  /**
   * ISO time the timer queued a job for the endpoint (`RotationScheduler`), or the worker put one back on
   * the queue, that no run has taken up since: the timer queues no other while it may still wait. Written
   * by `markEnqueued`; a run's next journal write drops it (`HeldLease.write`).
   */
  readonly enqueuedAt?: string;
  /**
   * The id of the endpoint's onboarding, journaled before it writes the first Key Vault version (from
   * Primary), which carries it as its `rotationId` tag. That version is no rotation: the rotation of the
   * other slot that follows it is still to come, so a run that finds it current (the onboarding's run was
   * cut or died after the write) rotates at once instead of waiting a period from its `rotatedAt` tag
   * (`RotationPlanner`). A finish drops it. A row from before it has none, and such a version waits.
   */
  readonly onboardingId?: string;
  /**
   * An operator's `POST …/rotate` whose manual job no run has taken up since (`markManualRotation`): another
   * such request is refused while it waits ({@link manualRotationQueued}). The worker drops it once it is
   * done with that job (`clearManualRotation`); a run's writes keep it.
   */
  readonly queuedManual?: QueuedManualRotation;
}

/** The note of one `POST …/rotate` in the journal's state row. */
export interface QueuedManualRotation {
  /** The request's own id, which its job carries (`RotationJob.requestId`): times alone may coincide. */
  readonly requestId: string;
  /** ISO time the job was queued (its `requestedAt`). */
  readonly queuedAt: string;
}

/** An event journaled with the outcome it reports (an outbox entry). Names, versions and ids only. */
export interface UnsentEvent {
  readonly eventId: string;
  readonly event: RotationEvent;
}

/** One journal line per step of a rotation. */
export interface StepRecord {
  readonly endpointId: string;
  readonly rotationId: string;
  /**
   * `abandoned`: a rotation dropped unfinished, refused as unsafe and then requested again
   * (`POST …/rotate`), or left behind by an endpoint deleted and registered again (`abandonedStep`).
   * `onboarding`: the first Key Vault version is about to be written, under this id (`onboardingId`).
   */
  readonly step: CompletedStep | 'failed' | 'skipped' | 'poison' | 'abandoned' | 'onboarding';
  readonly at: string;
  readonly slot?: KeySlot;
  readonly detail?: string;
}

/** The step record of a rotation dropped unfinished; `why` says after which step and for what reason. */
export function abandonedStep(
  active: ActiveRotation,
  at: string,
  why: string,
): Omit<StepRecord, 'endpointId'> {
  return { rotationId: active.rotationId, step: 'abandoned', at, slot: active.slot, detail: why };
}

/** What one journal write records: the endpoint's new state row and, optionally, one step record. */
export interface JournalEntry {
  readonly state: RotationState;
  readonly step?: Omit<StepRecord, 'endpointId'>;
}

/**
 * Durable rotation bookkeeping (port; `TableRotationJournal` is the Table storage adapter): the lease
 * that serialises runs per endpoint, the endpoint's state row, and step records.
 */
export interface RotationJournal {
  /**
   * Takes the endpoint's lease for `ttlMs` when it is free, expired, or already ours (conditional
   * write). Returns undefined when another owner holds an unexpired lease or wins the race.
   */
  acquireLease(endpointId: string, owner: string, ttlMs: number): Promise<Lease | undefined>;
  /** Extends a held lease; throws `LeaseLostError` when it was taken over meanwhile. */
  renewLease(lease: Lease, ttlMs: number): Promise<Lease>;
  /** Gives the lease up (no-op when it was lost). */
  releaseLease(lease: Lease): Promise<void>;
  /** The endpoint's state row plus the current lease holder, if any. */
  getState(
    endpointId: string,
  ): Promise<{ state: RotationState; lease?: { owner: string; expiresAt: number } }>;
  /**
   * Renews `lease` and writes the endpoint's state row (and the step record, if any) as one atomic
   * operation, which lands only while the lease is still the caller's. Otherwise it throws
   * `LeaseLostError` and writes nothing: a run whose lease lapsed during a slow step (or a slow retry of
   * this very write) cannot put back a step the run that took over has passed.
   * @returns the renewed lease
   */
  write(lease: Lease, ttlMs: number, entry: JournalEntry): Promise<Lease>;
  /**
   * Sets `enqueuedAt` in the endpoint's state row: the one write taken without the lease (by the timer, and
   * by the worker for a job it puts back on the queue). It is conditional on the row being the one it read
   * just before (optimistic concurrency), so it never undoes a run's write; when a run wrote meanwhile it
   * is given up.
   * @returns whether the mark landed
   */
  markEnqueued(endpointId: string, at: string): Promise<boolean>;
  /**
   * Notes an operator's `POST …/rotate` as `queuedManual`, unless the state row holds one queued at a time
   * `waits` says it may still wait: then nothing is written and that one's time is returned. Without the
   * lease, like `markEnqueued`, and conditional on the row read just before, so of two requests that race
   * exactly one lands: the other reads again and finds it. A write of ours whose answer was lost reads as ours on the
   * next read. Given up with `EndpointChangedError` when other writes kept coming first (`CHANGE_ATTEMPTS`).
   * @returns undefined when `request` was noted; otherwise the time the waiting one was queued
   */
  markManualRotation(
    endpointId: string,
    request: QueuedManualRotation,
    waits: (queuedAt: string) => boolean,
  ): Promise<string | undefined>;
  /**
   * Drops `queuedManual` when it is still request `requestId`'s: the worker is done with its job (or its
   * enqueue failed). Conditional like the mark; a write that lands first is read again, and another
   * request's note is left alone.
   */
  clearManualRotation(endpointId: string, requestId: string): Promise<void>;
}
