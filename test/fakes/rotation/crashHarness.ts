import type { KeySlot } from '../../../shared/endpoints/ManagedEndpoint';
import type { RotationJob } from '../../../shared/rotation/RotationJob';
import type { RotationFixture } from './buildRotationFixture';
import { CrashError } from './FaultPlan';

const HOUR = 3_600_000;

/** A rotation job for the fixture's default endpoint (`demo-key`). */
export function crashJob(reason: RotationJob['reason'] = 'manual', endpointId = 'demo-key'): RotationJob {
  return { endpointId, reason, requestedAt: '2026-01-01T00:00:00Z' };
}

/**
 * Runs a job, treating a simulated crash as "the process died" (a real crash leaves its lease behind).
 * A crash in a best-effort tail the run swallows (sending the finished rotation's event, clearing it
 * from the journal) is a crash all the same.
 */
export async function runSurvivingCrash(f: RotationFixture, j: RotationJob = crashJob()): Promise<string> {
  try {
    const outcome = await f.services.rotator.run(j);
    if (!f.faults.isDead) return outcome.status;
    f.faults.revive();
    return 'crashed';
  } catch (error) {
    if (!(error instanceof CrashError)) throw error;
    f.faults.revive();
    return 'crashed';
  }
}

/**
 * The 1-based number of the journal write that finishes the rotation in `mutations` (the write just
 * before its `KeyRotated` publish): a crash after it leaves nothing to rotate, only the event to send.
 */
export function finishWrite(mutations: readonly string[]): number {
  const publish = mutations.indexOf('events.publish:KeyRotated');
  if (publish < 1 || mutations[publish - 1] !== 'journal.write')
    throw new Error(`no finishing journal write before a KeyRotated publish in ${mutations.join(', ')}`);
  return publish;
}

/**
 * The distinct CloudEvent ids `KeyRotated` was published under. One id, however many runs a crash made
 * send it, is what lets a consumer that dedupes by id see the rotation once.
 */
export function keyRotatedEventIds(f: RotationFixture): Array<string | undefined> {
  return [...new Set(f.events.eventIds.filter((_, i) => f.events.events[i]?.type === 'KeyRotated'))];
}

/**
 * Checks the invariants at the moment a slot is regenerated, from Key Vault's history and the
 * endpoint's keys only (not from anything the rotator believes):
 * - the slot's key is not the current Key Vault value;
 * - the slot's key stopped being the current Key Vault value at least the grace period ago.
 */
export function watchInvariants(
  f: RotationFixture,
  graceHours: number,
  violations: string[],
  secretName = 'demo-key-secret',
): void {
  f.keys.onRegenerate = (endpointId: string, slot: KeySlot) => {
    const value = f.keys.keysOf(endpointId)[slot];
    const versions = f.secrets.versions(secretName);
    const latest = versions.at(-1);
    if (latest?.value === value) violations.push(`regenerated ${slot} while it was in Key Vault`);
    const lastHeld = versions.map((v) => v.value).lastIndexOf(value);
    const supersededBy = lastHeld >= 0 ? versions[lastHeld + 1] : undefined;
    if (supersededBy?.createdOn && f.clock.now() - supersededBy.createdOn.getTime() < graceHours * HOUR)
      violations.push(
        `regenerated ${slot} ${(f.clock.now() - supersededBy.createdOn.getTime()) / HOUR} h after it stopped being current`,
      );
  };
}
