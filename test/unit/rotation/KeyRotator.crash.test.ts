import fc from 'fast-check';

import { buildRotationFixture, type RotationFixture } from '../../fakes/rotation/buildRotationFixture';
import {
  crashJob,
  keyRotatedEventIds,
  runSurvivingCrash,
  watchInvariants,
} from '../../fakes/rotation/crashHarness';

const HOUR = 3_600_000;
const job = crashJob;

/** After onboarding, the value clients read from Key Vault must always be a working key. */
function keyVaultWorks(f: RotationFixture): boolean {
  const latest = f.secrets.versions('demo-key-secret').at(-1);
  if (!latest) return true;
  const keys = f.keys.keysOf('demo-key');
  return latest.value === keys.Primary || latest.value === keys.Secondary;
}

/** The 1-based number of an uninterrupted onboarding rotation's durable write of the first Key Vault version. */
async function onboardWrite(): Promise<number> {
  const reference = buildRotationFixture();
  reference.addEndpoint();
  await reference.services.rotator.run(job());
  return reference.faults.mutations.indexOf('kv.set:demo-key-secret') + 1;
}

describe('Class: KeyRotator', () => {
  describe('Method: run (crash and resume)', () => {
    // Count the durable writes of an uninterrupted onboarding rotation, then crash after each one.
    const reference = buildRotationFixture();
    reference.addEndpoint();
    const uninterrupted = reference.services.rotator.run(job()).then(() => reference.faults.mutations.length);

    it('has durable writes to crash between', async () => {
      expect(await uninterrupted).toBeGreaterThanOrEqual(8);
    });

    it.each(Array.from({ length: 14 }, (_, i) => i + 1))(
      'converges after a crash following write %i, with exactly one regenerate per slot and one KeyRotated',
      async (crashAfter) => {
        // Prepare
        const f = buildRotationFixture();
        f.addEndpoint({}, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
        const total = await uninterrupted;
        f.faults.crashAfter(crashAfter);

        // Act: the first run dies; a later run (after the lease expired) takes over
        const first = await runSurvivingCrash(f);
        const early = await runSurvivingCrash(f);
        f.clock.advance(601_000);
        const second = await runSurvivingCrash(f);

        // Assess
        expect(first).toBe(crashAfter > total ? 'rotated' : 'crashed');
        if (first === 'crashed') expect(['skipped', 'rotated']).toContain(early);
        expect(['rotated', 'skipped']).toContain(second);
        const versions = f.secrets.versions('demo-key-secret');
        expect(versions.map((v) => v.tags.slot)).toEqual(['Primary', 'Secondary']);
        expect(versions.at(-1)?.value).toBe(f.keys.keysOf('demo-key').Secondary);
        expect(f.keys.keysOf('demo-key').Primary).toBe('initial-primary');
        expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary']);
        expect(f.secrets.versions('demo-key-secret-pending').every((v) => !v.enabled)).toBe(true);
        const { state } = await f.journal.getState('demo-key');
        expect(state).toMatchObject({ lastOutcome: 'succeeded', lastSlot: 'Secondary' });
        // The event went out under one id, also when the crash fell between the finish and its publish.
        expect(state.unsentEvent).toBeUndefined();
        expect(keyRotatedEventIds(f)).toEqual([expect.any(String)]);
        expect(f.events.events.filter((e) => e.type === 'KeyRotated').at(-1)).toMatchObject({
          endpointId: 'demo-key',
          slot: 'Secondary',
          rotationId: state.lastRotationId,
        });
      },
    );
  });

  describe('Method: run (crash after the onboarding write)', () => {
    it('rotates the other slot on the next scheduled delivery, not a period later', async () => {
      // Prepare: the run dies right after Key Vault took the endpoint's first version (Primary)
      const f = buildRotationFixture();
      f.addEndpoint({}, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
      f.faults.crashAfter(await onboardWrite());

      // Act: the queue delivers the scheduled job again once the crashed run's lease has lapsed
      const first = await runSurvivingCrash(f, job('schedule'));
      const written = f.secrets.versions('demo-key-secret').map((v) => v.tags.slot);
      f.clock.advance(601_000);
      const second = await runSurvivingCrash(f, job('schedule'));

      // Assess: the fresh version is the onboarding's own, no rotation: Secondary is rotated now
      expect(first).toBe('crashed');
      expect(written).toEqual(['Primary']);
      expect(second).toBe('rotated');
      expect(f.secrets.versions('demo-key-secret').map((v) => v.tags.slot)).toEqual(['Primary', 'Secondary']);
      expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary']);
      const { state } = await f.journal.getState('demo-key');
      expect(state).toMatchObject({ lastOutcome: 'succeeded', lastSlot: 'Secondary' });
      expect(state.active).toBeUndefined();
      // The finish dropped the onboarding's id: from here on the period counts from this rotation.
      expect(state.onboardingId).toBeUndefined();
    });

    it('resumes the rotation after an onboarding that the previous version journaled (its row has no onboardingId)', async () => {
      // Prepare: the run dies right after journaling its rotation's first step; its row is made the previous
      // version's, which journaled nothing before the onboarding's write
      const f = buildRotationFixture();
      f.addEndpoint({}, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
      const started = (await onboardWrite()) + 1;
      f.faults.crashAfter(started);
      expect(await runSurvivingCrash(f, job('schedule'))).toBe('crashed');
      const { onboardingId: _new, ...previous } = (await f.journal.getState('demo-key')).state;
      f.journal.seedState('demo-key', previous);

      // Act
      f.clock.advance(601_000);
      const resumed = await f.services.rotator.run(job('schedule'));

      // Assess
      expect(previous.active).toMatchObject({ step: 'started', slot: 'Secondary', onboarding: true });
      expect(resumed).toMatchObject({ status: 'rotated', slot: 'Secondary', resumed: true });
      expect(f.secrets.versions('demo-key-secret').map((v) => v.tags.slot)).toEqual(['Primary', 'Secondary']);
      expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary']);
    });
  });

  describe('Method: run (property: invariants over random histories)', () => {
    type Command =
      | { kind: 'advance'; hours: number }
      | { kind: 'run'; reason: 'schedule' | 'manual' }
      | { kind: 'crashRun'; after: number }
      | { kind: 'concurrent' };
    const command: fc.Arbitrary<Command> = fc.oneof(
      fc.record({
        kind: fc.constant('advance' as const),
        hours: fc.double({ min: 0, max: 150, noNaN: true }),
      }),
      fc.record({
        kind: fc.constant('run' as const),
        reason: fc.constantFrom('schedule' as const, 'manual' as const),
      }),
      fc.record({ kind: fc.constant('crashRun' as const), after: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ kind: fc.constant('concurrent' as const) }),
    );

    it('never regenerates the slot in Key Vault or one within grace, and Key Vault always holds a working key', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 40 }), async (commands) => {
          // Prepare
          const f = buildRotationFixture();
          f.addEndpoint();
          const violations: string[] = [];
          watchInvariants(f, 25, violations);

          // Act
          for (const c of commands) {
            if (c.kind === 'advance') f.clock.advance(c.hours * HOUR);
            else if (c.kind === 'run') await runSurvivingCrash(f, job(c.reason));
            else if (c.kind === 'crashRun') {
              f.faults.crashAfter(c.after);
              await runSurvivingCrash(f);
              f.faults.revive();
            } else
              await Promise.all([
                runSurvivingCrash(f),
                f
                  .anotherProcess()
                  .rotator.run(job())
                  .catch(() => 'failed'),
              ]);
            if (!keyVaultWorks(f)) violations.push('Key Vault holds a key the endpoint does not accept');
          }
          // Every history converges: after the lease expired, one more run leaves nothing half-done.
          f.clock.advance(601_000);
          await runSurvivingCrash(f);

          // Assess
          expect(violations).toEqual([]);
          expect((await f.journal.getState('demo-key')).state.active).toBeUndefined();
        }),
        { numRuns: 150 },
      );
    });
  });
});
