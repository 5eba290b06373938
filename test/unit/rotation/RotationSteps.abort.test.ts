import type { Sleep } from '../../../shared/clock';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { DEFAULT_PROBE } from '../../../shared/endpoints/validateProbe';
import { silentLogger } from '../../../shared/logging';
import { errorCode } from '../../../shared/rotation/errors';
import { RotationSteps, type StepContext } from '../../../shared/rotation/RotationSteps';
import { FakeClock } from '../../fakes/FakeClock';
import { FakeEndpointKeyClient } from '../../fakes/rotation/FakeEndpointKeyClient';
import { FakeScoringProbe } from '../../fakes/rotation/FakeScoringProbe';
import { InMemorySecretStore } from '../../fakes/rotation/InMemorySecretStore';
import { neverEnds, signalRecordingSleep } from '../../fakes/sleeps';
import { settle } from '../../support/waitFor';

const ENDPOINT: ManagedEndpoint = {
  id: 'demo-key',
  kind: 'onlineEndpoint',
  arm: { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'demo-key' },
  authMode: 'Key',
  secretName: 'demo-key-secret',
  rotationPeriodHours: 100,
  gracePeriodHours: 25,
  probe: DEFAULT_PROBE,
  brokerKeyAccess: false,
  enabled: true,
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
};

/**
 * The test step of a rotation whose new key the endpoint keeps refusing (401), over `sleep`, with its pending
 * secret created, and the run's signal.
 */
async function refusedKeyTest(sleep: Sleep): Promise<{
  steps: RotationSteps;
  ctx: StepContext;
  probe: FakeScoringProbe;
  run: AbortController;
  clock: FakeClock;
  secrets: InMemorySecretStore;
  keys: FakeEndpointKeyClient;
}> {
  const clock = new FakeClock();
  const keys = new FakeEndpointKeyClient(clock);
  keys.add(ENDPOINT.id, { primaryKey: 'initial-primary', secondaryKey: 'initial-secondary' });
  const probe = new FakeScoringProbe(keys);
  probe.forceStatus = 401;
  const secrets = new InMemorySecretStore(clock);
  const steps = new RotationSteps({
    secrets,
    keys,
    probe,
    clock,
    sleep,
    logger: silentLogger,
    generateKey: () => 'new-key',
    testTimeoutMs: 60_000,
    leaseMs: 600_000,
  });
  const run = new AbortController();
  const ctx: StepContext = {
    endpoint: ENDPOINT,
    rotationId: 'rotation-1',
    slot: 'Secondary',
    resumed: false,
    signal: run.signal,
  };
  await steps.create(ctx);
  return { steps, ctx, probe, run, clock, secrets, keys };
}

describe('Class: RotationSteps (a test step the run gives up)', () => {
  it('ends the pause between two attempts when the run is out of time, and makes no further attempt', async () => {
    // Prepare: a sleep that never ends on its own and records the signal it is handed: realSleep ends with
    // that signal and clears its timer (clock.test.ts), a pause of up to 10 s between two attempts
    const { sleep, given } = signalRecordingSleep();
    const { steps, ctx, probe, run } = await refusedKeyTest(sleep);
    const reason = new DOMException('The rotation run is out of time.', 'AbortError');
    const outcome = steps.test(ctx).catch((error: unknown) => error);
    await settle();

    // Act
    run.abort(reason);

    // Assess
    expect(await Promise.race([outcome, settle().then(() => 'still pausing')])).toBe(reason);
    expect(given).toEqual([run.signal]);
    expect(probe.calls).toHaveLength(1);
  });

  it('gives up a scoring call in flight when the run is out of time, and makes no further attempt', async () => {
    // Prepare: the first scoring call hangs (a scoring URI that stopped answering: up to 10 s each)
    const { steps, ctx, probe, run } = await refusedKeyTest(neverEnds);
    const held = probe.holdNextCall();
    const reason = new DOMException('The rotation run is out of time.', 'AbortError');
    const outcome = steps.test(ctx).catch((error: unknown) => error);
    await held.reached;

    // Act
    run.abort(reason);

    // Assess: the call got the run's signal and ended with it, and the step with the signal's reason
    expect(await Promise.race([outcome, settle().then(() => 'still probing')])).toBe(reason);
    expect(probe.signals).toEqual([run.signal]);
    held.release();
    await settle();
    expect(probe.calls).toHaveLength(0);
  });

  it('gives up its read of the scoring URI (an ARM GET and its retries) when the run is out of time', async () => {
    // Prepare: ARM's GET of the endpoint never answers
    const { steps, ctx, probe, run, keys } = await refusedKeyTest(neverEnds);
    keys.describeHangs = true;
    const reason = new DOMException('The rotation run is out of time.', 'AbortError');
    const outcome = steps.test(ctx).catch((error: unknown) => error);
    await settle();

    // Act
    run.abort(reason);

    // Assess: the read was handed the run's signal and ended with it, before any scoring call
    expect(await Promise.race([outcome, settle().then(() => 'still reading')])).toBe(reason);
    expect(keys.describeSignals).toEqual([run.signal]);
    expect(probe.calls).toHaveLength(0);
  });

  it('stops as out of time, not as a key not accepted, when the run ends a probe after the test window', async () => {
    // Prepare: the window passes while the call hangs; an unanswered call past the window is a refusal
    const { steps, ctx, probe, run, clock } = await refusedKeyTest(neverEnds);
    const held = probe.holdNextCall();
    const reason = new DOMException('The rotation run is out of time.', 'AbortError');
    const outcome = steps.test(ctx).catch((error: unknown) => error);
    await held.reached;
    clock.advance(61_000);

    // Act
    run.abort(reason);

    // Assess: the signal's reason (KeyRotator makes it ROTATION_OUT_OF_TIME), never NEW_KEY_NOT_ACCEPTED
    const error = await Promise.race([outcome, settle().then(() => 'still probing')]);
    expect(error).toBe(reason);
    expect(errorCode(error)).not.toBe('NEW_KEY_NOT_ACCEPTED');
  });
});

describe('Class: RotationSteps (Key Vault calls the run gives up)', () => {
  it('hands the run signal to every Key Vault call of the create, set, test and finish steps', async () => {
    // Prepare: the create step has run; the endpoint accepts the new key
    const { steps, ctx, probe, run, secrets } = await refusedKeyTest(neverEnds);
    probe.forceStatus = undefined;

    // Act: a resumed set step reads the version list too
    await steps.set({ ...ctx, resumed: true });
    await steps.test(ctx);
    await steps.finish(ctx);

    // Assess: KeyVaultSecretStore hands it to the SDK and to its retries (KeyVaultSecretStore.test.ts)
    expect(secrets.signals.length).toBeGreaterThanOrEqual(8);
    expect(new Set(secrets.signals)).toEqual(new Set([run.signal]));
  });

  it('sends no Key Vault call after the run is out of time mid-finish, and the next run completes the finish', async () => {
    // Prepare: the run's time is spent while Key Vault writes the new current version
    const { steps, ctx, probe, run, secrets } = await refusedKeyTest(neverEnds);
    probe.forceStatus = undefined;
    await steps.set(ctx);
    await steps.test(ctx);
    const reason = new DOMException('The rotation run is out of time.', 'AbortError');
    const setVersion = secrets.setVersion.bind(secrets);
    secrets.setVersion = async (...args) => {
      const written = await setVersion(...args);
      run.abort(reason);
      return written;
    };

    // Act
    const outcome = await steps.finish(ctx).catch((error: unknown) => error);

    // Assess: the pending secret was not disabled behind the stopped run's back
    expect(outcome).toBe(reason);
    expect(secrets.versions('demo-key-secret-pending').at(-1)?.enabled).toBe(true);

    // Act: the next delivery resumes the finish step
    secrets.setVersion = setVersion;
    const version = await steps.finish({ ...ctx, resumed: true, signal: new AbortController().signal });

    // Assess: the version the stopped run wrote is the current one, and the pending secret is disabled
    expect(secrets.versions('demo-key-secret').at(-1)).toMatchObject({ version, value: 'new-key' });
    expect(secrets.versions('demo-key-secret-pending').at(-1)?.enabled).toBe(false);
  });
});
