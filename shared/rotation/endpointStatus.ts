import type { FileEntryClash } from '../endpoints/EndpointRegistry';
import { isKeySlot, type KeySlot, type ManagedEndpoint, unknownHere } from '../endpoints/ManagedEndpoint';
import { operatorHoldEndsAt } from './operatorHold';
import type { RotationEvent } from './RotationEventSink';
import {
  type ActiveRotation,
  manualRotationQueued,
  type RotationFailure,
  type RotationState,
} from './RotationJournal';
import { isOnboardingVersion, lastRotatedAt, nextDueAt } from './RotationPlanner';
import { type WaitingRotationJob, waitingRotationJob } from './RotationScheduler';
import { SECRET_TAGS, type SecretVersion } from './SecretStore';
import type { SlotGrace } from './slotHistory';

/** What the status API shows. Never contains a key. */
export interface EndpointStatus {
  readonly endpoint: ManagedEndpoint;
  /** Slot named by the current Key Vault version's tag (undefined before onboarding or for foreign versions). */
  readonly slotInUse?: KeySlot;
  readonly secretVersion?: string;
  readonly lastRotatedAt?: string;
  /**
   * When the grace period of the slot a new rotation would regenerate ends: until then `POST …/rotate` answers
   * 409 `ROTATION_IN_GRACE` naming this time (the same rule, `targetSlotInGrace` over Key Vault's versions), and
   * the worker skips a job `inGrace`. Not shown while a rotation is unfinished (the POST resumes it), nor for an
   * endpoint this version does not rotate, as `nextDueAt`.
   */
  readonly graceEndsAt?: string;
  /**
   * When this version's timer would rotate it: only for an enabled `Key` endpoint it knows. Due at once (the
   * time of the answer) when never rotated, and after an onboarding that stopped between its Key Vault write
   * and the rotation that follows it: that version is no rotation, and the next run rotates the other slot.
   */
  readonly nextDueAt?: string;
  /**
   * The endpoint's kind or auth mode is one this version does not know (a newer version registered it, during
   * a rolling deployment): this version neither rotates nor brokers it, and leaves it to one that knows it.
   */
  readonly notKnownHere?: {
    readonly field: 'kind' | 'authMode';
    readonly value: string;
    readonly note: string;
  };
  /**
   * The `ENDPOINTS_FILE` entry declared under another id at this registration's Azure ML endpoint (the entry
   * rotates its keys), or with its Key Vault secret (the entry rotates its own endpoint's keys into it): this
   * registration, a table row from before the file declared either, is not rotated. The note says which.
   */
  readonly declaredInFile?: { readonly entry: string; readonly note: string };
  /**
   * The last run failed in a way only a person can fix: the timer leaves the endpoint alone until then
   * (`POST …/rotate` after the fix runs at once).
   */
  readonly waitingForOperatorUntil?: string;
  readonly lastOutcome?: RotationState['lastOutcome'];
  readonly lastError?: RotationFailure;
  readonly drift?: RotationState['drift'];
  /**
   * When an operator's `POST …/rotate` queued the manual rotation that waits for the worker: another is
   * refused (409 `ROTATION_ALREADY_QUEUED`) until its run has taken it up.
   */
  readonly manualRotationQueuedAt?: string;
  /**
   * The rotation job waiting for the worker that `POST …/rotate` answers 409 `ROTATION_ALREADY_QUEUED` for (the
   * same rule, `waitingRotationJob`): when it was queued, and by an operator's `POST …/rotate` or by the timer (or
   * the worker, which put it back). Only for an endpoint this version rotates, as `nextDueAt`.
   */
  readonly rotationQueued?: WaitingRotationJob;
  /** The rotation under way: the step it last completed (`ActiveRotation`). */
  readonly inProgress?: Pick<ActiveRotation, 'rotationId' | 'slot' | 'step' | 'startedAt'>;
  /** A finished rotation's `KeyRotated` event its run stopped before sending; the next run sends it. */
  readonly unsentEvent?: {
    readonly type: RotationEvent['type'];
    readonly eventId: string;
    readonly time: string;
  };
}

/**
 * The status API's answer for one endpoint, from its registration, its journal row and Key Vault's
 * current version (undefined before onboarding, and not read for an endpoint without keys).
 * @param now - epoch ms
 * @param targetGrace - the grace period the slot a new rotation would regenerate is in (`targetSlotInGrace`),
 *   asked only where `POST …/rotate` asks it
 */
export function endpointStatus(
  endpoint: ManagedEndpoint,
  state: RotationState,
  current: SecretVersion | undefined,
  now: number,
  fileEntry?: FileEntryClash,
  targetGrace?: SlotGrace,
): EndpointStatus {
  const rotated = rotatedHere(endpoint, fileEntry);
  return {
    endpoint,
    ...keyVaultStatus(current),
    ...scheduleStatus(endpoint, state, current, now, rotated),
    ...(targetGrace !== undefined ? { graceEndsAt: new Date(targetGrace.endsAt).toISOString() } : {}),
    ...notKnownHereStatus(endpoint),
    ...(fileEntry !== undefined ? { declaredInFile: declaredInFileStatus(endpoint, fileEntry) } : {}),
    ...journalStatus(state),
    ...queuedStatus(endpoint, state, now, rotated),
  };
}

/**
 * Whether this version rotates the endpoint: an enabled `Key` endpoint, not retired, of a kind it knows
 * (`notKnownHere` otherwise), and not one an `ENDPOINTS_FILE` entry rotates (`declaredInFile`). Only such an
 * endpoint shows a due time, and what `POST …/rotate` would refuse it for: the POST refuses the others for that.
 */
export function rotatedHere(endpoint: ManagedEndpoint, fileEntry: FileEntryClash | undefined): boolean {
  return (
    endpoint.authMode === 'Key' &&
    endpoint.enabled &&
    !endpoint.retiredAt &&
    !unknownHere(endpoint) &&
    fileEntry === undefined
  );
}

/** A manual rotation queued and not yet taken up, while its note holds; the job a `POST …/rotate` would meet. */
function queuedStatus(
  endpoint: ManagedEndpoint,
  state: RotationState,
  now: number,
  rotated: boolean,
): Pick<EndpointStatus, 'manualRotationQueuedAt' | 'rotationQueued'> {
  const queuedAt = manualRotationQueued(state, now);
  const waiting = rotated ? waitingRotationJob(endpoint, state, now) : undefined;
  return {
    ...(queuedAt !== undefined ? { manualRotationQueuedAt: queuedAt } : {}),
    ...(waiting !== undefined ? { rotationQueued: waiting } : {}),
  };
}

/** What this version does not know about the endpoint (a newer version's kind or auth mode), and what it does. */
function notKnownHereStatus(endpoint: ManagedEndpoint): Pick<EndpointStatus, 'notKnownHere'> {
  const field = unknownHere(endpoint);
  if (!field) return {};
  const value = String(endpoint[field]).slice(0, 64);
  return {
    notKnownHere: {
      field,
      value,
      note:
        `This version of the app does not know ${field} ${value} (a newer version registered the endpoint): it ` +
        `neither rotates nor brokers it, and leaves it to a version that knows it.`,
    },
  };
}

/** Why a registration that collides with a file entry is not rotated, and what to do. */
function declaredInFileStatus(
  endpoint: ManagedEndpoint,
  { entry, shares }: FileEntryClash,
): NonNullable<EndpointStatus['declaredInFile']> {
  return {
    entry,
    note:
      shares === 'endpoint'
        ? `ENDPOINTS_FILE declares this Azure ML endpoint as ${entry}, which rotates its keys: ${endpoint.id} is not ` +
          `rotated, as the two would rotate them against each other. Point its clients at ${entry}'s secret and ` +
          `DELETE ${endpoint.id}.`
        : `ENDPOINTS_FILE declares this Key Vault secret, ${endpoint.secretName}, for ${entry}, which rotates the keys ` +
          `of its own Azure ML endpoint into it: ${endpoint.id} is not rotated, as the two would overwrite each ` +
          `other's keys there. PATCH its secretName to a secret of its own and point its clients at that, or ` +
          `DELETE ${endpoint.id}.`,
  };
}

/** Which slot Key Vault's current version names, and which version that is. */
function keyVaultStatus(
  current: SecretVersion | undefined,
): Pick<EndpointStatus, 'slotInUse' | 'secretVersion'> {
  const slot = current?.tags[SECRET_TAGS.slot];
  return {
    ...(isKeySlot(slot) ? { slotInUse: slot } : {}),
    ...(current ? { secretVersion: current.version } : {}),
  };
}

/** When the endpoint was last rotated, when it is due next, and whether it waits for a person. */
function scheduleStatus(
  endpoint: ManagedEndpoint,
  state: RotationState,
  current: SecretVersion | undefined,
  now: number,
  rotated: boolean,
): Pick<EndpointStatus, 'lastRotatedAt' | 'nextDueAt' | 'waitingForOperatorUntil'> {
  const last = lastRotatedAt(state, current);
  // Never rotated: due at once. The version of an onboarding that stopped before its rotation is no rotation
  // (the planner's rule): only the journal's last rotation, if any, puts the next one off.
  const counted = isOnboardingVersion(state, current) ? undefined : current;
  const dueAt = rotated ? (nextDueAt(endpoint, state, counted) ?? now) : undefined;
  const holdEndsAt = operatorHoldEndsAt(state);
  return {
    ...(last !== undefined ? { lastRotatedAt: new Date(last).toISOString() } : {}),
    ...(dueAt !== undefined ? { nextDueAt: new Date(dueAt).toISOString() } : {}),
    ...(holdEndsAt !== undefined && now < holdEndsAt
      ? { waitingForOperatorUntil: new Date(holdEndsAt).toISOString() }
      : {}),
  };
}

/** What the journal's state row says: the last outcome and error, drift, a rotation under way, an unsent event. */
function journalStatus(
  state: RotationState,
): Pick<EndpointStatus, 'lastOutcome' | 'lastError' | 'drift' | 'inProgress' | 'unsentEvent'> {
  const { lastOutcome, lastError, drift, active, unsentEvent } = state;
  return {
    ...(lastOutcome ? { lastOutcome } : {}),
    ...(lastError ? { lastError } : {}),
    ...(drift ? { drift } : {}),
    ...(active
      ? {
          inProgress: {
            rotationId: active.rotationId,
            slot: active.slot,
            step: active.step,
            startedAt: active.startedAt,
          },
        }
      : {}),
    ...(unsentEvent
      ? {
          unsentEvent: {
            type: unsentEvent.event.type,
            eventId: unsentEvent.eventId,
            time: unsentEvent.event.time,
          },
        }
      : {}),
  };
}
