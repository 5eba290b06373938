import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { DependencyFailedError, DependencyUnavailableError } from '../../../shared/errors';
import { V1_RULES, V1RuleError } from '../../../shared/v1/v1Rules';
import { buildRotationFixture, type RotationFixture } from '../../fakes/rotation/buildRotationFixture';
import {
  finishWrite,
  keyRotatedEventIds,
  runSurvivingCrash,
  watchInvariants,
} from '../../fakes/rotation/crashHarness';

const V1: Partial<ManagedEndpoint> = {
  kind: 'v1WebService',
  v1: { computeType: 'ACI', region: 'westeurope' },
};

/** A v1 key service (the service picks every key value) with known initial keys. */
function v1Fixture(): RotationFixture {
  const f = buildRotationFixture();
  f.keys.serviceSetsValues = true;
  f.addEndpoint(V1, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
  return f;
}

/** Durable writes of one uninterrupted v1 onboarding rotation, in order. */
async function referenceMutations(): Promise<string[]> {
  const f = v1Fixture();
  await f.services.rotator.run({
    endpointId: 'demo-key',
    reason: 'manual',
    requestedAt: '2026-01-01T00:00:00Z',
  });
  return f.faults.mutations;
}

describe('Protocol: v1 rotation (regenerate, then read the service-generated value)', () => {
  const reference = referenceMutations();

  it('regenerates without a value and reads the new key into the pending secret before the test step', async () => {
    // Prepare
    const f = v1Fixture();
    // Act
    const outcome = await f.services.rotator.run({
      endpointId: 'demo-key',
      reason: 'manual',
      requestedAt: '',
    });
    // Assess
    expect(outcome).toMatchObject({ status: 'rotated', slot: 'Secondary' });
    expect(f.keys.regenerations).toEqual([expect.objectContaining({ slot: 'Secondary', withValue: false })]);
    const pending = f.secrets.versions('demo-key-secret-pending');
    expect(pending.map((v) => v.value).at(-1)).toBe(f.keys.keysOf('demo-key').Secondary);
    expect(f.secrets.versions('demo-key-secret').at(-1)?.value).toBe(f.keys.keysOf('demo-key').Secondary);
    // The create step's placeholder never reached the service.
    expect(Object.values(f.keys.keysOf('demo-key'))).not.toContain(pending[0]?.value);
    expect(await reference).toEqual([
      'journal.write',
      'kv.set:demo-key-secret',
      'journal.write',
      'kv.set:demo-key-secret-pending',
      'journal.write',
      'arm.regenerate:Secondary',
      'kv.set:demo-key-secret-pending',
      'journal.write',
      'journal.write',
      'kv.set:demo-key-secret',
      'kv.disable:demo-key-secret-pending',
      'kv.disable:demo-key-secret-pending',
      'journal.write',
      'events.publish:KeyRotated',
      'journal.write',
    ]);
  });

  // Crash after each durable write: the onboarding's journal row, its Key Vault write, create, the regenerate
  // (before the read-back), the read-back into the pending secret, set/test journal rows, finish's Key Vault
  // write, the two pending disables (the create step's placeholder, then the read-back value), the finishing
  // journal write, the KeyRotated publish and the journal write that marks it sent.
  it.each(Array.from({ length: 15 }, (_, i) => i + 1))(
    'converges after a crash following write %i, never regenerating the current slot',
    async (crashAfter) => {
      // Prepare
      const f = v1Fixture();
      const violations: string[] = [];
      watchInvariants(f, 25, violations);
      const mutations = await reference;
      f.faults.crashAfter(crashAfter);
      // Act: the first run dies; a later run (after the lease expired) takes over
      const job = { endpointId: 'demo-key', reason: 'manual' as const, requestedAt: '' };
      const first = await runSurvivingCrash(f, job);
      f.clock.advance(601_000);
      const second = await runSurvivingCrash(f, job);
      // Assess: same outcome as without a crash
      expect(first).toBe('crashed');
      // After the finishing write the rotation was complete: the next run only sends its event, if unsent.
      expect(second).toBe(crashAfter >= finishWrite(mutations) ? 'skipped' : 'rotated');
      expect(violations).toEqual([]);
      const versions = f.secrets.versions('demo-key-secret');
      expect(versions.map((v) => v.tags.slot)).toEqual(['Primary', 'Secondary']);
      expect(versions.at(-1)?.value).toBe(f.keys.keysOf('demo-key').Secondary);
      expect(f.keys.keysOf('demo-key').Primary).toBe('initial-primary');
      expect(f.keys.regenerations.every((r) => r.slot === 'Secondary' && !r.withValue)).toBe(true);
      // Only a crash between the regenerate and the read-back costs a second regenerate (of the same slot).
      const crashedAfter = mutations[crashAfter - 1];
      const readBackLost = crashedAfter === 'arm.regenerate:Secondary';
      expect(f.keys.regenerations).toHaveLength(readBackLost ? 2 : 1);
      expect(f.secrets.versions('demo-key-secret-pending').every((v) => !v.enabled)).toBe(true);
      const { state } = await f.journal.getState('demo-key');
      expect(state).toMatchObject({ lastOutcome: 'succeeded', lastSlot: 'Secondary' });
      expect(state.unsentEvent).toBeUndefined();
      expect(keyRotatedEventIds(f)).toEqual([expect.any(String)]);
    },
  );

  it('a second rotation regenerates the other slot, leaving the one clients use alone', async () => {
    // Prepare
    const f = v1Fixture();
    const violations: string[] = [];
    watchInvariants(f, 25, violations);
    await f.services.rotator.run({ endpointId: 'demo-key', reason: 'manual', requestedAt: '' });
    const inUse = f.keys.keysOf('demo-key').Secondary;
    f.clock.advance(101 * 3_600_000);
    // Act
    const outcome = await f.services.rotator.run({
      endpointId: 'demo-key',
      reason: 'schedule',
      requestedAt: '',
    });
    // Assess
    expect(outcome).toMatchObject({ status: 'rotated', slot: 'Primary' });
    expect(f.keys.keysOf('demo-key').Secondary).toBe(inUse);
    expect(violations).toEqual([]);
  });

  it('never writes a v1 key into a log line, journal row, event or telemetry item', async () => {
    // Prepare
    const f = v1Fixture();
    // Act
    await f.services.rotator.run({ endpointId: 'demo-key', reason: 'manual', requestedAt: '' });
    f.clock.advance(101 * 3_600_000);
    await f.services.rotator.run({ endpointId: 'demo-key', reason: 'schedule', requestedAt: '' });
    // Assess
    const haystack = [...f.logs, f.journal.dump(), JSON.stringify(f.events.events), f.telemetry.text()].join(
      '\n',
    );
    const values = [
      ...f.keys.allKeys,
      ...f.secrets.versions('demo-key-secret-pending').map((v) => v.value),
    ].filter((v) => v !== '');
    expect(values.length).toBeGreaterThan(4);
    for (const value of values) expect(haystack).not.toContain(value);
  });

  it('rotate-now answers the v1 rule as 422, but still queues the job while the region cannot be read', async () => {
    // Prepare
    const f = v1Fixture();
    // Act
    f.keys.failNext('describe', new V1RuleError(V1_RULES.keyAuthDisabled, 'demo-key'));
    const refused = f.services.admin.rotateNow('demo-key');
    await expect(refused).rejects.toMatchObject({ status: 422, code: 'V1_KEY_AUTH_DISABLED' });
    f.keys.failNext('describe', new DependencyUnavailableError('modelManagement', 'region down'));
    const queued = await f.services.admin.rotateNow('demo-key');
    // Assess
    expect(queued).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
    expect(f.jobs.jobs).toHaveLength(1);
  });

  it('rotate-now queues the job when model management says a definite no (404 service gone), so the cause reaches the status and a RotationFailed event', async () => {
    // Prepare: the service was deleted; a synchronous 502 said only "not available, try again later"
    const f = v1Fixture();
    const gone = new DependencyFailedError(
      'modelManagement',
      'modelManagement refused the request (HTTP 404 RestError).',
      404,
    );
    f.keys.failNext('describe', gone);
    // Act
    const queued = await f.services.admin.rotateNow('demo-key');
    f.keys.failNext('describe', gone);
    await f.services.rotator.run(f.jobs.jobs[0]!).catch(() => undefined);
    // Assess
    expect(queued).toMatchObject({ endpointId: 'demo-key', reason: 'manual' });
    const { state } = await f.journal.getState('demo-key');
    expect(state.lastError?.code).toBe('DependencyFailed');
    expect(state.lastError?.message).toMatch(/HTTP 404/);
    expect(f.events.events.map((e) => e.type)).toContain('RotationFailed');
  });
});
