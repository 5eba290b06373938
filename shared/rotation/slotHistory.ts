import { HOUR_MS, isKeySlot, type KeySlot, otherSlot } from '../endpoints/ManagedEndpoint';
import { SECRET_TAGS, type SecretVersionInfo } from './SecretStore';

/** The grace period a slot is still in. */
export interface SlotGrace {
  /** Epoch ms when the grace period ends. */
  readonly endsAt: number;
  /** The version that held the slot has expired: clients that honour expiry no longer read its value. */
  readonly heldByExpired: boolean;
}

/**
 * The grace period `slot` is still in at `now` — it stopped being current less than `gracePeriodHours`
 * ago, and consumers such as Key Vault references may still read its value — or undefined when the slot
 * is free to regenerate (it stopped being current longer ago, or never was).
 *
 * The one exception to grace is `heldByExpired`, and its two callers apply it differently. The planner
 * cuts grace short only for an urgent `expired` job. The set step's re-check of a resumed run
 * (`RotationSteps`) knows no job (the journal keeps a rotation's reason, not `urgent`), so an expired
 * holder alone lets it through: that run was planned already, and the re-check only guards against
 * versions written since.
 */
export function slotInGrace(
  versions: readonly SecretVersionInfo[],
  slot: KeySlot,
  gracePeriodHours: number,
  now: number,
): SlotGrace | undefined {
  const stopped = slotStoppedBeingCurrentAt(versions, slot);
  if (!stopped) return undefined;
  const endsAt = stopped.at + gracePeriodHours * HOUR_MS;
  if (now >= endsAt) return undefined;
  const expiresOn = stopped.heldBy.expiresOn?.getTime();
  return { endsAt, heldByExpired: expiresOn !== undefined && expiresOn <= now };
}

/**
 * The grace period the slot a new rotation would regenerate is in, judged from Key Vault alone, for the admin
 * API's `POST …/rotate` (which reads no keys: ARM counts a listKeys among its writes). The planner establishes
 * the current slot by value; here it is the current version's `slot` tag, and for a version without one
 * (written by hand) either slot may be the target, so both must be in grace, until the later end. A disabled
 * current version is drift, for the worker to report. Undefined when nothing here says the worker would skip
 * the job `inGrace`.
 * @param current - Key Vault's current version (`SecretStore.getCurrent`)
 * @param versions - properties of every version, newest first (`SecretStore.listVersions`)
 */
export function targetSlotInGrace(
  current: Pick<SecretVersionInfo, 'enabled' | 'tags'>,
  versions: readonly SecretVersionInfo[],
  gracePeriodHours: number,
  now: number,
): (SlotGrace & { readonly slot?: KeySlot }) | undefined {
  if (!current.enabled) return undefined;
  const tagged = current.tags[SECRET_TAGS.slot];
  if (isKeySlot(tagged)) {
    const slot = otherSlot(tagged);
    const grace = slotInGrace(versions, slot, gracePeriodHours, now);
    return grace && { ...grace, slot };
  }
  const primary = slotInGrace(versions, 'Primary', gracePeriodHours, now);
  const secondary = slotInGrace(versions, 'Secondary', gracePeriodHours, now);
  if (!primary || !secondary) return undefined;
  return primary.endsAt >= secondary.endsAt ? primary : secondary;
}

/**
 * When did `slot` stop being what clients read from Key Vault?
 *
 * Versions are walked newest first. The newest run of versions that hold the *other* slot (the current
 * one) is skipped; the version before that run held `slot` (or is not ours, so it may have) — `slot`
 * stopped being current when the oldest version of the run was written. If the walk runs out, `slot`
 * was never in Key Vault and has no grace period to respect (first rotation after onboarding).
 *
 * ```
 * oldest ... [S] [P] [P*]   ← newest (current, slot P)
 *                 ^ Secondary stopped being current here (rotatedAt of this version)
 * ```
 * @param versions - properties of every version, newest first (`SecretStore.listVersions`)
 * @param slot - the slot that is about to be regenerated
 * @returns epoch ms and the version that held `slot`, or undefined when `slot` was never current
 */
function slotStoppedBeingCurrentAt(
  versions: readonly SecretVersionInfo[],
  slot: KeySlot,
): { at: number; heldBy: SecretVersionInfo } | undefined {
  const current = otherSlot(slot);
  // The oldest version of the run walked so far; none yet at the newest version, which is current by
  // definition (its slot was established by value, not by tag).
  let oldestOfRun: SecretVersionInfo | undefined;
  for (const version of versions) {
    // An older version without our slot tag may have held `slot`, so it ends the run (the safe reading).
    if (oldestOfRun && version.tags[SECRET_TAGS.slot] !== current)
      return { at: writtenAt(oldestOfRun), heldBy: version };
    oldestOfRun = version;
  }
  return undefined;
}

/**
 * When a version was written: our `rotatedAt` tag, else Key Vault's `createdOn`; unknown counts as
 * "never long enough ago" (+Infinity), the reading that can only delay a rotation, never break a client.
 */
function writtenAt(version: SecretVersionInfo): number {
  const tagged = Date.parse(version.tags[SECRET_TAGS.rotatedAt] ?? '');
  if (!Number.isNaN(tagged)) return tagged;
  return version.createdOn?.getTime() ?? Number.POSITIVE_INFINITY;
}
