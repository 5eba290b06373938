import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { AzureClients } from '../../shared/azureClients';
import { loadConfig } from '../../shared/config';
import { createRotationModule } from '../../shared/rotation/module';
import { noopTelemetry } from '../../shared/telemetry';
import { CapturingRotationEventSink } from '../fakes/rotation/CapturingRotationEventSink';
import { standInSettings, useEmulatorIdentity, withEmulators } from '../support/emulators';

/**
 * Rotation under sustained ARM write throttling, through the real SDK clients and the ARM write gate:
 * a bucket far smaller than the backlog, every job on its last delivery (a failure would be poison).
 * Needs NODE_EXTRA_CA_CERTS (set by `npm test`).
 */
const SUB = '00000000-0000-0000-0000-0000000000t1';
const WS = { subscriptionId: SUB, resourceGroup: 'rg-throttle', workspace: 'ws-throttle' };
const ENDPOINTS = 10;

jest.setTimeout(120_000);

describe('Rotation under ARM write throttling', () => {
  let emulators: RunningEmulators;
  let azurite: RunningAzurite;
  let restoreEnv: () => void = () => undefined;

  beforeAll(async () => {
    [emulators, azurite] = await Promise.all([withEmulators(), startAzurite()]);
    restoreEnv = useEmulatorIdentity(emulators);
    emulators.control.addWorkspace(WS);
    emulators.control.setRegenerateDelayMs(50);
  });

  afterAll(async () => {
    restoreEnv();
    await Promise.all([emulators?.stop(), azurite?.stop()]);
  });

  it('rotates a backlog 15× the write bucket with zero failures and one rotation per endpoint', async () => {
    // Prepare: onboarding rotations cost 3 writes each (listKeys twice, regenerateKeys): 30 writes
    // against a bucket of 2 refilled 1/s, so ARM answers 429 most of the time. Without the gate, ten
    // writers retrying on their own (3 × 4 tries, 1 s apart) over one token a second lose that race.
    const config = loadConfig({
      ...standInSettings(emulators, azurite, 'thr'),
      ROTATION_GRACE_HOURS: '0',
      ROTATION_MIN_GRACE_HOURS: '0',
      ROTATION_TEST_TIMEOUT_SECONDS: '30',
    });
    const events = new CapturingRotationEventSink();
    const module = createRotationModule(
      {
        config,
        clients: new AzureClients(config),
        telemetry: noopTelemetry,
        clock: { now: () => Date.now() },
      },
      { events, logSink: () => undefined, armPollIntervalMs: 50 },
    );
    const names = Array.from({ length: ENDPOINTS }, (_, i) => `thr-${i}`);
    for (const name of names) {
      emulators.control.addOnlineEndpoint({ ...WS, name, authMode: 'Key' });
      await module.admin.register({
        id: name,
        arm: { ...WS, name },
        authMode: 'Key',
        secretName: `${name}-key`,
      });
    }
    emulators.control.setArmWriteThrottling({ capacity: 2, refillPerSecond: 1 });
    emulators.control.resetCounters();

    // Act: all at once, each as the last delivery of its message.
    const outcomes = await Promise.all(
      names.map((id) =>
        module.worker.handle({ endpointId: id, reason: 'manual', requestedAt: new Date().toISOString() }, 5),
      ),
    );

    // Assess
    const counters = emulators.control.counters();
    emulators.control.setArmWriteThrottling(undefined);
    expect(outcomes.map((o) => o.status)).toEqual(names.map(() => 'rotated'));
    expect(counters['arm.throttled'] ?? 0).toBeGreaterThan(0);
    for (const name of names) {
      // Onboarding version + exactly one rotation, whose value is the key the endpoint now holds.
      const versions = emulators.control.secretVersions(`${name}-key`);
      const keys = emulators.control.keys({ ...WS, name });
      expect(versions.map((v) => v.tags['slot'])).toEqual(['Primary', 'Secondary']);
      expect(versions.at(-1)?.value).toBe(keys.secondaryKey);
    }
    expect(events.events.filter((e) => e.type === 'RotationFailed')).toEqual([]);
    expect(events.events.filter((e) => e.type === 'KeyRotated')).toHaveLength(ENDPOINTS);
  });
});
