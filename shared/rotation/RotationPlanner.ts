import {
  HOUR_MS,
  isKeySlot,
  type KeySlot,
  type ManagedEndpoint,
  otherSlot,
} from '../endpoints/ManagedEndpoint';
import { type EndpointKeyClient, type EndpointKeys, keyOf } from './EndpointKeyClient';
import type { RotationJob } from './RotationJob';
import type { RotationState } from './RotationJournal';
import { pendingSecretName, SECRET_TAGS, type SecretStore, type SecretVersion } from './SecretStore';
import { slotInGrace } from './slotHistory';

/** What a new run should do. */
export type RotationPlan =
  | { readonly kind: 'rotate'; readonly slot: KeySlot }
  | { readonly kind: 'onboard'; readonly keys: EndpointKeys }
  | {
      readonly kind: 'skip';
      readonly reason: 'notDue' | 'inGrace';
      readonly detail: string;
      /** Not due by Key Vault's `rotatedAt` tag, later than the journal's last rotation: that tag (ISO). */
      readonly rotatedAt?: string;
    }
  /** Finish the rotation whose pending secret (tagged with its id and slot) the endpoint's slot already holds. */
  | { readonly kind: 'repair'; readonly rotationId: string; readonly slot: KeySlot }
  | { readonly kind: 'drift'; readonly detail: string };

/** Dependencies of {@link RotationPlanner}. */
export interface RotationPlannerOptions {
  secrets: SecretStore;
  keys: EndpointKeyClient;
}

/**
 * Decides, for an endpoint with no rotation in progress, which slot may be regenerated — enforcing the
 * two invariants before anything is written:
 * 1. the slot whose value is in the current Key Vault version is never regenerated (the target is
 *    always the *other* slot, established by comparing values, not by trusting tags);
 * 2. a slot that stopped being current less than the grace period ago is left alone, because
 *    consumers such as Key Vault references re-read only every 24 h.
 */
export class RotationPlanner {
  constructor(private readonly options: RotationPlannerOptions) {}

  /**
   * @param endpoint - a Key endpoint
   * @param job - the request (reasons `schedule` and `nearExpiry` wait for the schedule, see
   *   `waitsForSchedule`; `expired` + urgent may skip grace)
   * @param state - the endpoint's journal row
   * @param now - epoch ms
   * @param abortSignal - the run's (its time budget): each read of Key Vault and of the endpoint's keys, and
   *   their retries, stop when it fires
   */
  async plan(
    endpoint: ManagedEndpoint,
    job: RotationJob,
    state: RotationState,
    now: number,
    abortSignal?: AbortSignal,
  ): Promise<RotationPlan> {
    const { secrets, keys } = this.options;
    const current = await secrets.getCurrent(endpoint.secretName, abortSignal);
    if (current && waitsForSchedule(job, endpoint, state, current, now))
      return {
        kind: 'skip',
        reason: 'notDue',
        detail: 'the last rotation is more recent than the period',
        ...rotatedLaterInKeyVault(state, current),
      };
    const endpointKeys = await keys.listKeys(endpoint, abortSignal);
    if (!current) return { kind: 'onboard', keys: endpointKeys };

    const currentSlot = current.enabled ? slotHolding(current, endpointKeys) : undefined;
    if (!currentSlot) return this.driftOrRepair(endpoint, endpointKeys, current, abortSignal);

    const target = otherSlot(currentSlot);
    const versions = await secrets.listVersions(endpoint.secretName, abortSignal);
    const grace = slotInGrace(versions, target, endpoint.gracePeriodHours, now);
    // An urgent `expired` job may cut grace short only when the version that held the target slot has
    // itself expired.
    if (grace && !(job.urgent && job.reason === 'expired' && grace.heldByExpired))
      return {
        kind: 'skip',
        reason: 'inGrace',
        detail: `${target} stopped being current less than ${endpoint.gracePeriodHours} h ago (grace ends ${new Date(grace.endsAt).toISOString()})`,
      };
    return { kind: 'rotate', slot: target };
  }

  /**
   * Key Vault matches neither key. The one safe repair: our pending secret holds exactly the key the
   * endpoint now has in that slot (a run crashed after `set` and lost its journal) — writing it makes Key
   * Vault right again without regenerating anything. Anything else is reported, never guessed at.
   */
  private async driftOrRepair(
    endpoint: ManagedEndpoint,
    keys: EndpointKeys,
    current: SecretVersion,
    abortSignal: AbortSignal | undefined,
  ): Promise<RotationPlan> {
    const pending = await this.options.secrets.getCurrent(
      pendingSecretName(endpoint.secretName),
      abortSignal,
    );
    const slot = pending?.tags[SECRET_TAGS.slot];
    const rotationId = pending?.tags[SECRET_TAGS.rotationId];
    if (pending?.enabled && rotationId && isKeySlot(slot))
      if (pending.value !== '' && keyOf(keys, slot) === pending.value)
        return { kind: 'repair', rotationId, slot };
    return { kind: 'drift', detail: driftDetail(current) };
  }
}

/** The slot whose key equals the secret's value (tag first, to break the tie if both keys are equal). */
export function slotHolding(secret: SecretVersion, keys: EndpointKeys): KeySlot | undefined {
  const tagged = secret.tags[SECRET_TAGS.slot];
  if (isKeySlot(tagged) && keyOf(keys, tagged) === secret.value) return tagged;
  if (keys.primaryKey === secret.value) return 'Primary';
  if (keys.secondaryKey === secret.value) return 'Secondary';
  return undefined;
}

/**
 * Why Key Vault's current version counts as drift when {@link slotHolding} finds no slot for it: the
 * `detail` of the journal's drift record and of the `DriftDetected` event.
 */
export function driftDetail(current: SecretVersion): string {
  return current.enabled
    ? `version ${current.version} matches neither key of the endpoint`
    : `the current version ${current.version} is disabled`;
}

/** Due when never rotated, or the last rotation (journal or Key Vault tag, whichever is later) is a period old. */
export function isDue(
  endpoint: ManagedEndpoint,
  state: RotationState,
  current: SecretVersion | undefined,
  now: number,
): boolean {
  const dueAt = nextDueAt(endpoint, state, current);
  return dueAt === undefined || dueAt <= now;
}

/** Epoch ms a period after the last rotation we know of; undefined when never rotated (due at once). */
export function nextDueAt(
  endpoint: ManagedEndpoint,
  state: RotationState,
  current?: { tags: Readonly<Record<string, string>> },
): number | undefined {
  const last = lastRotatedAt(state, current);
  return last === undefined ? undefined : last + endpoint.rotationPeriodHours * HOUR_MS;
}

/**
 * Whether a job must wait for the endpoint's schedule. A scheduled job waits for the period, and so does
 * a near-expiry one: Key Vault raises `SecretNearExpiry` 30 days before a version expires, and the
 * versions the app writes expire a period plus the grace period after their rotation, so the event comes
 * before the schedule whenever the grace period is under 30 days (with the defaults, 25 h after each
 * rotation). Rotating then would override `rotationPeriodHours`. Only a version that expires before its
 * scheduled rotation (one written by hand with an earlier expiry) is rotated ahead of it. Other reasons
 * (manual, expired, drift) never wait, and no job waits while the current version is the journaled
 * onboarding's (`RotationState.onboardingId`): that version is no rotation, and the rotation of the other
 * slot that follows an onboarding is due at once.
 */
function waitsForSchedule(
  job: RotationJob,
  endpoint: ManagedEndpoint,
  state: RotationState,
  current: SecretVersion,
  now: number,
): boolean {
  if (job.reason !== 'schedule' && job.reason !== 'nearExpiry') return false;
  if (isOnboardingVersion(state, current)) return false;
  if (isDue(endpoint, state, current, now)) return false;
  if (job.reason === 'schedule') return true;
  // Not due, so there is a last rotation and a next due time.
  const nextDueMs = nextDueAt(endpoint, state, current) ?? now;
  const expiresOnMs = current.expiresOn?.getTime();
  return expiresOnMs === undefined || expiresOnMs >= nextDueMs;
}

/**
 * Whether Key Vault's current version is the journaled onboarding's own (`RotationState.onboardingId`, its
 * `rotationId` tag): journaled before its write, so a run that stopped after the write left it current. It is no
 * rotation, so its `rotatedAt` tag puts nothing off: the rotation of the other slot that follows is due at once.
 * The status's `nextDueAt` asks the same, so it shows what the next run does.
 */
export function isOnboardingVersion(
  state: RotationState,
  current: { tags: Readonly<Record<string, string>> } | undefined,
): boolean {
  return state.onboardingId !== undefined && current?.tags[SECRET_TAGS.rotationId] === state.onboardingId;
}

/** Key Vault's `rotatedAt` tag (ISO) when it is later than the journal's last rotation, or nothing. */
function rotatedLaterInKeyVault(state: RotationState, current: SecretVersion): { rotatedAt?: string } {
  const tagged = lastRotatedAt({}, current);
  const journaled = lastRotatedAt(state);
  return tagged !== undefined && (journaled === undefined || tagged > journaled)
    ? { rotatedAt: new Date(tagged).toISOString() }
    : {};
}

/** Epoch ms of the last rotation we know of, if any. */
export function lastRotatedAt(
  state: RotationState,
  current?: { tags: Readonly<Record<string, string>> },
): number | undefined {
  const times = [state.lastRotatedAt, current?.tags[SECRET_TAGS.rotatedAt]]
    .map((t) => Date.parse(t ?? ''))
    .filter((t) => !Number.isNaN(t));
  return times.length ? Math.max(...times) : undefined;
}
