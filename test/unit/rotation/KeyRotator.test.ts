import { DependencyUnavailableError } from '../../../shared/errors';
import {
  AuthModeNotKeyError,
  DriftDetectedError,
  KeyNotAcceptedError,
  LeaseLostError,
  UnsafeRegenerationError,
} from '../../../shared/rotation/errors';
import type { RotationOutcome } from '../../../shared/rotation/KeyRotator';
import type { RotationJob } from '../../../shared/rotation/RotationJob';
import { buildRotationFixture, type RotationFixture } from '../../fakes/rotation/buildRotationFixture';
import type { HeldCall } from '../../fakes/rotation/NextCallHold';
import { settle } from '../../support/waitFor';

const job = (reason: RotationJob['reason'] = 'manual', extra: Partial<RotationJob> = {}): RotationJob => ({
  endpointId: 'demo-key',
  reason,
  requestedAt: '2026-01-01T00:00:00Z',
  ...extra,
});

/**
 * A due scheduled run under a 60-s lease, stalled in the slow call `hold` picks (a scoring call, a
 * regenerate); resolves once the run waits there.
 */
async function stalledRun(
  hold: (f: RotationFixture) => HeldCall,
): Promise<{ f: RotationFixture; run: Promise<RotationOutcome>; release: () => void }> {
  const f = buildRotationFixture({ leaseSeconds: 60 });
  await onboarded(f);
  f.clock.advanceHours(100);
  const stall = hold(f);
  const run = f.services.rotator.run(job('schedule'));
  await stall.reached;
  return { f, run, release: stall.release };
}

/** Onboards the endpoint: KV gets Primary, Secondary is rotated. */
async function onboarded(f: RotationFixture): Promise<void> {
  f.addEndpoint({}, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
  await f.services.rotator.run(job());
}

/** An onboarded endpoint, due, whose scheduled run stopped after create (ARM down at the regenerate). */
async function stoppedAfterCreate(): Promise<RotationFixture> {
  const f = buildRotationFixture();
  await onboarded(f);
  f.clock.advanceHours(100);
  f.keys.failNext('regenerateKey', new DependencyUnavailableError('arm', 'down'));
  await expect(f.services.rotator.run(job('schedule'))).rejects.toThrow(DependencyUnavailableError);
  return f;
}

/** A job for `old-row`, a registration that collides with the ENDPOINTS_FILE entry `from-file`. */
function runOldRow(f: RotationFixture, reason: RotationJob['reason']): Promise<RotationOutcome> {
  return f.services.rotator.run({
    endpointId: 'old-row',
    reason,
    requestedAt: new Date(f.clock.now()).toISOString(),
  });
}

/**
 * `old-row`'s job was skipped as `declaredInFile` with `detail`: its keys (`p`, `s`) not regenerated,
 * `secretName` not written, nothing journaled.
 */
async function expectSkippedUntouched(
  f: RotationFixture,
  outcome: RotationOutcome,
  detail: string,
  secretName: string,
): Promise<void> {
  expect(outcome).toEqual({ status: 'skipped', endpointId: 'old-row', reason: 'declaredInFile', detail });
  expect(await f.keys.listKeys(f.registry.endpoints.get('old-row')!)).toEqual({
    primaryKey: 'p',
    secondaryKey: 's',
  });
  expect(await f.secrets.getCurrent(secretName)).toBeUndefined();
  expect((await f.journal.getState('old-row')).state).toEqual({});
}

describe('Class: KeyRotator', () => {
  describe('Method: run', () => {
    it('onboards an endpoint without a secret: Primary to Key Vault first, then rotates Secondary', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({}, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });

      // Act
      const outcome = await f.services.rotator.run(job());

      // Assess
      const versions = f.secrets.versions('demo-key-secret');
      expect(versions.map((v) => [v.value === 'initial-primary', v.tags.slot])).toEqual([
        [true, 'Primary'],
        [false, 'Secondary'],
      ]);
      expect(versions[1]?.value).toBe(f.keys.keysOf('demo-key').Secondary);
      expect(f.keys.keysOf('demo-key').Primary).toBe('initial-primary');
      expect(f.keys.regenerations.map((r) => [r.slot, r.withValue])).toEqual([['Secondary', true]]);
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Secondary', resumed: false });
      expect(versions[1]?.tags).toMatchObject({ managedBy: 'aml-credential-broker', slot: 'Secondary' });
      expect(versions[1]?.expiresOn?.getTime()).toBe(f.clock.now() + 125 * 3_600_000);
      expect(f.secrets.versions('demo-key-secret-pending').every((v) => !v.enabled)).toBe(true);
      expect(f.events.events.map((e) => e.type)).toEqual(['KeyRotated']);
      expect(f.telemetry.events.map((e) => e.name)).toEqual(['RotationStarted', 'RotationSucceeded']);
      expect(f.telemetry.metrics.map((m) => m.name)).toEqual(['RotationDurationMs']);
    });

    it('keeps a finish whose event the journal could not mark sent, and the next run sends it again under the same id', async () => {
      // Prepare: Table storage fails right after the KeyRotated publish
      const f = buildRotationFixture();
      f.addEndpoint();
      f.events.onPublish = () => void (f.journal.failRenewals = 1);

      // Act
      const outcome = await f.services.rotator.run(job());
      const leftInJournal = (await f.journal.getState('demo-key')).state.unsentEvent;
      f.events.onPublish = undefined;
      const next = await f.services.rotator.run(job('schedule'));

      // Assess
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Secondary' });
      expect(leftInJournal?.event).toMatchObject({
        type: 'KeyRotated',
        rotationId: outcome.status === 'rotated' ? outcome.rotationId : '',
      });
      expect(f.logs.some((l) => l.startsWith('warn') && l.includes('journal not cleared'))).toBe(true);
      expect(next).toMatchObject({ status: 'skipped', reason: 'notDue' });
      expect(f.logs.some((l) => l.includes('sending the event a stopped run left in the journal'))).toBe(
        true,
      );
      expect(f.events.events.map((e) => e.type)).toEqual(['KeyRotated', 'KeyRotated']);
      expect(f.events.eventIds).toEqual([leftInJournal?.eventId, leftInJournal?.eventId]);
      expect((await f.journal.getState('demo-key')).state.unsentEvent).toBeUndefined();
    });

    it('skips a job for a registration with the Key Vault secret of an ENDPOINTS_FILE entry, touching no key', async () => {
      // Prepare: the row was registered before the file declared its secret for another endpoint
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'from-file', secretName: 'shared-secret' });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', secretName: 'shared-secret' }, { primaryKey: 'p', secondaryKey: 's' });

      // Act
      const outcome = await runOldRow(f, 'schedule');

      // Assess: nothing regenerated, and nothing stored over the entry's keys in the secret
      await expectSkippedUntouched(
        f,
        outcome,
        'its Key Vault secret is declared in ENDPOINTS_FILE for from-file',
        'shared-secret',
      );
    });

    it('skips a job for a registration at the Azure ML endpoint of an ENDPOINTS_FILE entry, touching no key', async () => {
      // Prepare: the row was registered before the file declared its endpoint; a Key Vault event queued its job
      const f = buildRotationFixture();
      const place = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'scoring' };
      f.addEndpoint({ id: 'from-file', arm: place });
      f.registry.readOnly.add('from-file');
      f.addEndpoint({ id: 'old-row', arm: place }, { primaryKey: 'p', secondaryKey: 's' });

      // Act
      const outcome = await runOldRow(f, 'nearExpiry');

      // Assess: nothing regenerated, written or journaled
      await expectSkippedUntouched(
        f,
        outcome,
        'its Azure ML endpoint is declared in ENDPOINTS_FILE as from-file',
        'old-row-secret',
      );
      expect(f.logs).toContain(
        'warn KeyRotator => rotate => endpoint declared in ENDPOINTS_FILE too, skipped, DELETE it ' +
          'endpointId=old-row alsoRegisteredAs=from-file',
      );
    });

    it('rotates the slot that is not in Key Vault once the period and grace have passed', async () => {
      // Prepare
      const f = buildRotationFixture();
      await onboarded(f);
      const inKeyVault = f.keys.keysOf('demo-key').Secondary;
      f.clock.advanceHours(100);

      // Act
      const outcome = await f.services.rotator.run(job('schedule'));

      // Assess
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary' });
      expect(f.keys.keysOf('demo-key').Secondary).toBe(inKeyVault);
      expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary', 'Primary']);
      const current = await f.secrets.getCurrent('demo-key-secret');
      expect(current?.value).toBe(f.keys.keysOf('demo-key').Primary);
    });

    it('skips a slot that stopped being current less than the grace period ago', async () => {
      // Prepare
      const f = buildRotationFixture();
      await onboarded(f);
      f.clock.advanceHours(24);

      // Act
      const outcome = await f.services.rotator.run(job('manual'));

      // Assess
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'inGrace' });
      expect(f.keys.regenerations).toHaveLength(1);
    });

    it('skips a scheduled job that is not due yet (a duplicate of a finished one)', async () => {
      // Prepare
      const f = buildRotationFixture();
      await onboarded(f);
      f.clock.advanceHours(50);

      // Act
      const outcome = await f.services.rotator.run(job('schedule'));

      // Assess
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'notDue' });
    });

    it('waits for the schedule on a near-expiry job, which Key Vault raises 30 days before the expiry the app sets', async () => {
      // Prepare: a 100 h period and 25 h grace make a version expire 125 h after its rotation, so Key Vault's
      // near-expiry event (30 days ahead) comes at once; 26 h on, the grace is over and only the schedule holds
      const f = buildRotationFixture();
      await onboarded(f);
      f.clock.advanceHours(26);

      // Act
      const outcome = await f.services.rotator.run(job('nearExpiry'));

      // Assess
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'notDue' });
      expect(f.keys.regenerations).toHaveLength(1);
    });

    it('rotates ahead of the schedule on a near-expiry job when the current version expires before its scheduled rotation', async () => {
      // Prepare: someone set the current version to expire in 10 h, long before the next rotation (74 h)
      const f = buildRotationFixture();
      await onboarded(f);
      f.clock.advanceHours(26);
      const current = await f.secrets.getCurrent('demo-key-secret');
      f.secrets.setExpiry(
        'demo-key-secret',
        current?.version ?? '',
        new Date(f.clock.now() + 10 * 3_600_000),
      );

      // Act
      const outcome = await f.services.rotator.run(job('nearExpiry'));

      // Assess
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary' });
    });

    it('lets an urgent expired job skip grace only when the version holding that slot has expired', async () => {
      // Prepare: rotate twice, so Secondary stopped being current just now
      const f = buildRotationFixture();
      await onboarded(f);
      f.clock.advanceHours(100);
      await f.services.rotator.run(job());
      f.clock.advanceHours(1);
      const secondaryVersion = f.secrets.versions('demo-key-secret')[1]?.version as string;

      // Act
      const plainManual = await f.services.rotator.run(job('manual', { urgent: true }));
      const notExpired = await f.services.rotator.run(job('expired', { urgent: true }));
      f.secrets.setExpiry('demo-key-secret', secondaryVersion, new Date(f.clock.now() - 1000));
      const notUrgent = await f.services.rotator.run(job('expired'));
      const expired = await f.services.rotator.run(job('expired', { urgent: true }));

      // Assess
      expect(plainManual).toMatchObject({ status: 'skipped', reason: 'inGrace' });
      expect(notExpired).toMatchObject({ status: 'skipped', reason: 'inGrace' });
      expect(notUrgent).toMatchObject({ status: 'skipped', reason: 'inGrace' });
      expect(expired).toMatchObject({ status: 'rotated', slot: 'Secondary' });
    });

    it('rejects endpoints whose auth mode is not Key and journals why', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({ authMode: 'AMLToken' });

      // Act
      await expect(f.services.rotator.run(job())).rejects.toThrow(AuthModeNotKeyError);

      // Assess
      const { state } = await f.journal.getState('demo-key');
      expect(state.lastError).toMatchObject({ code: 'AUTH_MODE_NOT_KEY', step: 'plan' });
      expect(state.lastError?.message).toMatch(/AMLToken.*only Key endpoints/);
      expect(f.keys.regenerations).toHaveLength(0);
    });

    it('rejects a registered Key endpoint that ARM reports as token-authenticated', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      f.keys.setAuthMode('demo-key', 'AADToken');

      // Act / Assess
      await expect(f.services.rotator.run(job())).rejects.toThrow(AuthModeNotKeyError);
      expect(f.secrets.versions('demo-key-secret')).toHaveLength(0);
    });

    it('leaves Key Vault untouched when the scoring endpoint keeps rejecting the new key, then resumes', async () => {
      // Prepare
      const f = buildRotationFixture();
      await onboarded(f);
      f.clock.advanceHours(100);
      const before = f.secrets.versions('demo-key-secret');
      f.probe.forceStatus = 401;

      // Act
      await expect(f.services.rotator.run(job())).rejects.toThrow(KeyNotAcceptedError);
      const { state } = await f.journal.getState('demo-key');
      f.probe.forceStatus = undefined;
      const retried = await f.services.rotator.run(job());

      // Assess
      expect(state.lastError).toMatchObject({ code: 'NEW_KEY_NOT_ACCEPTED', step: 'test' });
      expect(state.active?.step).toBe('set');
      expect(f.events.events.map((e) => e.type)).toContain('RotationFailed');
      expect(before).toHaveLength(2);
      expect(retried).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: true });
      expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary', 'Primary']);
    });

    it('keeps trying the new key while it propagates', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      f.keys.propagationMs = 20_000;

      // Act
      const outcome = await f.services.rotator.run(job());

      // Assess
      expect(outcome.status).toBe('rotated');
      expect(f.probe.calls.filter((c) => c.status === 401).length).toBeGreaterThan(1);
      expect(new Set(f.probe.calls.map((c) => c.timeoutMs))).toEqual(new Set([10_000]));
    });

    it('renews a short lease before it lapses while the new key propagates slowly', async () => {
      // Prepare
      const f = buildRotationFixture({ leaseSeconds: 10, testTimeoutSeconds: 120 });
      f.addEndpoint();
      f.keys.propagationMs = 60_000;

      // Act
      const outcome = await f.services.rotator.run(job());

      // Assess
      expect(outcome.status).toBe('rotated');
      expect(f.journal.lapsedRenewals).toBe(0);
      expect(f.probe.calls.filter((c) => c.status === 401).length).toBeGreaterThan(20);
      // Each scoring call may take at most half the 10-s lease (operations.md), not the usual 10 s.
      expect(new Set(f.probe.calls.map((c) => c.timeoutMs))).toEqual(new Set([5_000]));
    });

    it('keeps its lease through a regenerate that outlasts it', async () => {
      // Prepare: a 60-s lease and a regenerate (ARM's throttle wait plus the LRO) that runs 100 s
      const { f, run, release } = await stalledRun((fixture) => fixture.keys.holdNextRegenerate());

      // Act
      f.clock.advance(50_000);
      await settle();
      f.clock.advance(50_000);
      await settle();
      const second = await f.anotherProcess().rotator.run(job('schedule'));
      release();
      const outcome = await run;

      // Assess
      expect(second).toMatchObject({ status: 'skipped', reason: 'inProgress' });
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: false });
      expect(f.journal.lapsedRenewals).toBe(0);
      expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary', 'Primary']);
    });

    it('stops after a slow regenerate when its renewals failed and another run took the endpoint over', async () => {
      // Prepare: storage is out of reach for the first three renewals, long enough for the lease to lapse
      const { f, run, release } = await stalledRun((fixture) => fixture.keys.holdNextRegenerate());
      f.journal.failRenewals = 3;
      f.clock.advance(65_000);
      await settle();
      const takeover = await f.anotherProcess().rotator.run(job('schedule'));
      const stepsAfterTakeover = f.journal.steps.length;

      // Act: the next renewal finds the lease gone, then the regenerate completes
      f.clock.advance(20_000);
      await settle();
      release();
      const error = await run.catch((e: unknown) => e);

      // Assess
      expect(takeover).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: true });
      expect(error).toBeInstanceOf(LeaseLostError);
      expect(f.journal.steps.length).toBe(stepsAfterTakeover);
      expect(f.journal.failRenewals).toBe(0);
      // The late regenerate carried the same pending value, so clients still read a key the service holds.
      expect((await f.secrets.getCurrent('demo-key-secret'))?.value).toBe(f.keys.keysOf('demo-key').Primary);
    });

    it('falls back to a service-generated key when ARM rejects our value', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      f.keys.rejectKeyValues = true;

      // Act
      await f.services.rotator.run(job());

      // Assess
      expect((await f.secrets.getCurrent('demo-key-secret'))?.value).toBe(
        f.keys.keysOf('demo-key').Secondary,
      );
      expect(f.keys.regenerations.map((r) => r.withValue)).toEqual([false]);
    });

    it('reports drift and regenerates nothing when Key Vault matches neither key', async () => {
      // Prepare
      const f = buildRotationFixture();
      await onboarded(f);
      f.secrets.seed('demo-key-secret', 'typed-by-hand');
      f.clock.advanceHours(200);

      // Act
      await expect(f.services.rotator.run(job())).rejects.toThrow(DriftDetectedError);

      // Assess
      expect(f.keys.regenerations).toHaveLength(1);
      expect(f.events.events.at(-2)).toMatchObject({ type: 'DriftDetected', endpointId: 'demo-key' });
      expect((await f.journal.getState('demo-key')).state.drift?.detected).toBe(true);
    });

    it('repairs drift from its own pending secret when the endpoint holds exactly that value', async () => {
      // Prepare: a run set the key at the endpoint, then both its journal and Key Vault's main secret went astray
      const f = buildRotationFixture();
      await onboarded(f);
      f.clock.advanceHours(100);
      f.probe.forceStatus = 401;
      await expect(f.services.rotator.run(job())).rejects.toThrow(KeyNotAcceptedError);
      f.probe.forceStatus = undefined;
      f.journal.seedState('demo-key', {});
      f.secrets.seed('demo-key-secret', 'typed-by-hand');

      // Act
      const outcome = await f.services.rotator.run(job());

      // Assess
      expect(outcome).toMatchObject({ status: 'repaired', slot: 'Primary' });
      expect((await f.secrets.getCurrent('demo-key-secret'))?.value).toBe(f.keys.keysOf('demo-key').Primary);
      expect(f.keys.regenerations).toHaveLength(2);
    });

    it('plans from scratch on "rotate now" after it refused a rotation whose pending secret was disabled', async () => {
      // Prepare: a run stopped after create (ARM down), then someone disabled the pending secret, and the
      // resumed run refused to regenerate (UNSAFE_REGENERATION)
      const f = await stoppedAfterCreate();
      const abandoned = (await f.journal.getState('demo-key')).state.active?.rotationId;
      const pending = await f.secrets.getCurrent('demo-key-secret-pending');
      await f.secrets.disableVersion('demo-key-secret-pending', pending?.version ?? '');
      await expect(f.services.rotator.run(job('schedule'))).rejects.toThrow(UnsafeRegenerationError);

      // Act: the operator checked the secrets and asks for a rotation now (operations.md)
      const outcome = await f.services.rotator.run(job('manual'));

      // Assess
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: false });
      expect(outcome.status === 'rotated' && outcome.rotationId).not.toBe(abandoned);
      expect((await f.secrets.getCurrent('demo-key-secret'))?.value).toBe(f.keys.keysOf('demo-key').Primary);
      expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary', 'Primary']);
      expect((await f.journal.getState('demo-key')).state.active).toBeUndefined();
      expect(f.journal.steps.filter((s) => s.step === 'abandoned')).toMatchObject([
        { rotationId: abandoned, detail: 'refused after created' },
      ]);
    });

    it('resumes a rotation journaled at a step it does not know (a newer version wrote it) from the set step, not at the finish', async () => {
      // Prepare: a run stopped after create; a newer version, during a rolling deployment, journaled a
      // step this version has no name for before it stopped too
      const f = await stoppedAfterCreate();
      const { state } = await f.journal.getState('demo-key');
      const active = { ...state.active!, step: 'staged' } as unknown as NonNullable<typeof state.active>;
      f.journal.seedState('demo-key', { ...state, active });

      // Act: the first run meets ARM down at the regenerate, the next one gets through
      f.keys.failNext('regenerateKey', new DependencyUnavailableError('arm', 'down'));
      await expect(f.services.rotator.run(job('schedule'))).rejects.toThrow(DependencyUnavailableError);
      const failed = (await f.journal.getState('demo-key')).state;
      const outcome = await f.services.rotator.run(job('schedule'));

      // Assess: the failure names the step the run was in; Key Vault gets the new key only once the
      // slot holds it and it was tested
      expect(failed.lastError).toMatchObject({ code: 'DependencyUnavailable', step: 'set' });
      expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: true });
      expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary', 'Primary']);
      expect((await f.secrets.getCurrent('demo-key-secret'))?.value).toBe(f.keys.keysOf('demo-key').Primary);
      expect(f.logs.some((l) => l.includes('journaled step this version does not know'))).toBe(true);
    });

    it('refuses to regenerate the target slot once a version written by hand (no tags) holds its key', async () => {
      // Prepare: a run stopped after create (ARM down); then a person wrote the Primary key, the target
      // slot, into Key Vault as its new version, as the DRIFT_DETECTED remedy in operations.md shows
      const f = await stoppedAfterCreate();
      f.secrets.seed('demo-key-secret', f.keys.keysOf('demo-key').Primary);

      // Act: the queue's retry resumes the rotation
      const error = await f.services.rotator.run(job('schedule')).catch((e: unknown) => e);

      // Assess: clients read the Primary key from Key Vault now; it must keep working
      expect(error).toBeInstanceOf(UnsafeRegenerationError);
      expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary']);
      expect((await f.secrets.getCurrent('demo-key-secret'))?.value).toBe(f.keys.keysOf('demo-key').Primary);
    });

    it('refuses to regenerate the target slot that versions written by hand made current and then replaced, within grace', async () => {
      // Prepare: a run stopped after create (ARM down); then a person wrote the Primary key (the target
      // slot) into Key Vault, and a moment later the Secondary key: readers in between hold Primary
      const f = await stoppedAfterCreate();
      f.secrets.seed('demo-key-secret', f.keys.keysOf('demo-key').Primary);
      f.clock.advance(60_000);
      f.secrets.seed('demo-key-secret', f.keys.keysOf('demo-key').Secondary);

      // Act: the queue's retry resumes the rotation
      const error = await f.services.rotator.run(job('schedule')).catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(UnsafeRegenerationError);
      expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary']);
    });

    it.each([
      ['set', 5],
      ['tested', 6],
    ] as const)(
      'sets the key again when the target slot was regenerated outside the app after a run stopped at %s',
      async (step, writes) => {
        // Prepare: a run died after its write journaling the step; then someone regenerated that slot
        // (portal, CLI) while the lease lapsed
        const f = buildRotationFixture();
        await onboarded(f);
        f.clock.advanceHours(100);
        f.faults.crashAfter(writes);
        await expect(f.services.rotator.run(job('schedule'))).rejects.toThrow('simulated crash');
        f.faults.revive();
        expect((await f.journal.getState('demo-key')).state.active?.step).toBe(step);
        f.keys.setKey('demo-key', 'Primary', 'regenerated-in-the-portal');
        f.clock.advance(601_000);

        // Act
        const outcome = await f.services.rotator.run(job('schedule'));

        // Assess: Key Vault holds a key the endpoint accepts
        expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: true });
        const current = await f.secrets.getCurrent('demo-key-secret');
        expect(current?.value).toBe(f.keys.keysOf('demo-key').Primary);
        expect(f.keys.accepts('demo-key', current?.value ?? '')).toBe(true);
      },
    );

    it('lets only one of two concurrent runs rotate', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint();
      const other = f.anotherProcess();

      // Act
      const outcomes = await Promise.all([f.services.rotator.run(job()), other.rotator.run(job())]);

      // Assess
      expect(outcomes.map((o) => o.status).sort()).toEqual(['rotated', 'skipped']);
      expect(outcomes.find((o) => o.status === 'skipped')).toMatchObject({ reason: 'inProgress' });
      expect(f.keys.regenerations).toHaveLength(1);
    });

    it('skips unknown, disabled and retired endpoints without touching anything', async () => {
      // Prepare
      const f = buildRotationFixture();
      f.addEndpoint({ id: 'off-one', enabled: false });
      f.addEndpoint({ id: 'gone-one', retiredAt: '2025-12-01T00:00:00Z' });

      // Act
      const outcomes = await Promise.all(
        ['nope-one', 'off-one', 'gone-one'].map((id) =>
          f.services.rotator.run(job('manual', { endpointId: id })),
        ),
      );

      // Assess
      expect(outcomes.map((o) => (o.status === 'skipped' ? o.reason : o.status))).toEqual([
        'notRegistered',
        'disabled',
        'retired',
      ]);
      expect(f.keys.calls).toHaveLength(0);
    });

    it.each([
      ['disabled', { enabled: false }, 1],
      ['retired', { retiredAt: '2025-12-01T00:00:00Z' }, 0],
    ] as const)(
      'a run on a %s endpoint sends the event a stopped run left unsent %i times, and rotates nothing',
      async (reason, parked, sent) => {
        // Prepare: a run finished a rotation and stopped before sending its KeyRotated event; the
        // endpoint was then disabled (its key still serves) or retired (deleted in Azure, key and all)
        const f = buildRotationFixture();
        f.addEndpoint({ id: 'parked-one', ...parked });
        const unsentEvent = {
          eventId: 'e-left',
          event: {
            type: 'KeyRotated' as const,
            endpointId: 'parked-one',
            secretName: 'parked-one-secret',
            time: new Date(f.clock.now()).toISOString(),
          },
        };
        f.journal.seedState('parked-one', { lastRotatedAt: unsentEvent.event.time, unsentEvent });

        // Act
        const first = await f.services.rotator.run(job('schedule', { endpointId: 'parked-one' }));
        const second = await f.services.rotator.run(job('schedule', { endpointId: 'parked-one' }));

        // Assess
        expect([first, second]).toEqual([
          { status: 'skipped', endpointId: 'parked-one', reason },
          { status: 'skipped', endpointId: 'parked-one', reason },
        ]);
        expect(f.events.events).toEqual(sent ? [unsentEvent.event] : []);
        expect(f.events.eventIds).toEqual(sent ? ['e-left'] : []);
        expect((await f.journal.getState('parked-one')).state.unsentEvent).toEqual(
          sent ? undefined : unsentEvent,
        );
        expect(f.keys.calls).toHaveLength(0);
      },
    );

    it.each([
      ['the key is accepted: its next journal write finds the lease gone', 200, LeaseLostError],
      ['the test step times out: its failure is logged but not journaled', 401, KeyNotAcceptedError],
    ] as const)(
      'a run whose lease lapsed in a slow step writes nothing once another run finished the rotation (%s)',
      async (_case, lateStatus, expectedError) => {
        // Prepare: the first run stalls in the test step past its lease; a second process takes over
        const { f, run: lapsed, release } = await stalledRun((fixture) => fixture.probe.holdNextCall());
        f.clock.advance(61_000);
        const takeover = await f.anotherProcess().rotator.run(job('schedule'));
        const stepsAfterTakeover = f.journal.steps.length;
        const journalAfterTakeover = (await f.journal.getState('demo-key')).state;

        // Act: the stalled scoring call answers
        f.probe.forceStatus = lateStatus;
        release();
        const error = await lapsed.catch((e: unknown) => e);

        // Assess
        expect(takeover).toMatchObject({ status: 'rotated', slot: 'Primary', resumed: true });
        expect(error).toBeInstanceOf(expectedError);
        expect(journalAfterTakeover).toMatchObject({ lastOutcome: 'succeeded', lastSlot: 'Primary' });
        expect(journalAfterTakeover.active).toBeUndefined();
        expect((await f.journal.getState('demo-key')).state).toEqual(journalAfterTakeover);
        expect(f.journal.steps.length).toBe(stepsAfterTakeover);
        expect(f.keys.regenerations.map((r) => r.slot)).toEqual(['Secondary', 'Primary']);
      },
    );
  });
});
