import { join } from 'node:path';

import { type LocalStack, startLocalStack } from '../../local/stack';
import { SECRET_TAGS } from '../../shared/rotation/SecretStore';
import { useEmulatorIdentity } from '../support/emulators';
import { standInVaultClient, startProbeClient } from '../support/probeClient';
import { addKeyEndpoint, type RegisteredKeyEndpoint, rotateNow } from '../support/stackEndpoints';
import { leakedSecrets, StandInLog } from '../support/standInLog';
import { allTableRowsText, journalReader } from '../support/storageTables';
import { waitFor } from '../support/waitFor';

/**
 * A v2 serverless endpoint rotated end to end: the admin API enqueues, the Functions host's worker
 * runs the protocol through the ML client's pipeline against the ARM stand-in's serverless API, and a
 * client that reads the key from Key Vault with the real `SecretClient` keeps scoring throughout.
 */
const WS = {
  subscriptionId: '00000000-0000-0000-0000-0000000000s1',
  resourceGroup: 'rg-sls',
  workspace: 'ws-sls',
};
const GRACE_HOURS = 0.0005; // 1.8 s: long enough to prove the rule, short enough for several rotations
const ROTATIONS = 4;

jest.setTimeout(180_000);

describe('Serverless endpoint rotation on the local stack', () => {
  const root = join(__dirname, '..', '..');
  const standIns = new StandInLog();
  let stack: LocalStack;
  let endpoint: RegisteredKeyEndpoint;
  let restoreEnv: () => void = () => undefined;

  beforeAll(async () => {
    stack = await startLocalStack({
      root,
      functionsPort: 0,
      emulatorPort: 0,
      log: standIns.sink,
      // Only the rotations this test asks for: the schedule's period is far longer than the test.
      settings: { ROTATION_PERIOD_HOURS: '1', ROTATION_GRACE_HOURS: '0', ROTATION_MIN_GRACE_HOURS: '0' },
    });
    restoreEnv = useEmulatorIdentity(stack.emulators);
    endpoint = await addKeyEndpoint(stack, WS, 'sls-chat', {
      kind: 'serverlessEndpoint',
      gracePeriodHours: GRACE_HOURS,
      rotationPeriodHours: 1,
    });
  }, 120_000);

  afterAll(async () => {
    restoreEnv();
    await stack?.stop();
  });

  /** Asks for a rotation until the secret has `versions` versions (a run inside the grace period skips). */
  async function rotateUntil(versions: number): Promise<void> {
    let askedAt = 0;
    await waitFor(
      `${versions} versions of ${endpoint.secretName}`,
      async () => {
        if (stack.emulators.control.secretVersions(endpoint.secretName).length >= versions) return true;
        if (Date.now() - askedAt > 5_000) {
          askedAt = Date.now();
          await rotateNow(stack, endpoint.id).catch(() => undefined); // 409 while a run holds the lease
        }
        return false;
      },
      { timeoutMs: 60_000, describe: () => stack.hostOutput().slice(-4000) },
    );
  }

  it('rotates through the serverless API and a Key Vault client sees zero rejected calls', async () => {
    // Prepare: onboarding publishes the Primary key and rotates Secondary
    await rotateUntil(2);
    const probe = startProbeClient({
      vault: standInVaultClient(stack.emulators.url),
      secretName: endpoint.secretName,
      scoringUri: endpoint.scoringUri,
    });

    // Act
    for (let n = 3; n <= ROTATIONS + 1; n += 1) await rotateUntil(n);
    await waitFor('the last rotation journaled', async () => {
      const state = await journalReader(stack.storageConnectionString).state(endpoint.id);
      return state.lastOutcome === 'succeeded' && !state.active;
    });
    const stats = await probe.stop();

    // Assess
    const versions = stack.emulators.control.secretVersions(endpoint.secretName);
    const keys = stack.emulators.control.keys(endpoint.coords);
    const current = versions.at(-1);
    expect(stats.rejected).toBe(0);
    expect(stats.accepted).toBeGreaterThan(ROTATIONS);
    expect(stats.keysSeen.size).toBeGreaterThanOrEqual(2); // it followed the rotations
    expect(standIns.regenerations(endpoint.name)).toBe(ROTATIONS);
    // Each regenerateKeys was a 202 whose operation the app polled through the ML client's pipeline.
    const polls = standIns.lines.filter(
      (line) =>
        line.includes(`/subscriptions/${WS.subscriptionId}/`) && line.includes('(arm.operationStatus)'),
    );
    expect(polls.length).toBeGreaterThanOrEqual(ROTATIONS);
    expect(versions.map((v) => v.tags[SECRET_TAGS.slot])).toEqual([
      'Primary',
      'Secondary',
      'Primary',
      'Secondary',
      'Primary',
    ]);
    expect(current?.value).toBe(keys.primaryKey);
    expect(
      stack.emulators.control.secretVersions(`${endpoint.secretName}-pending`).every((v) => !v.enabled),
    ).toBe(true);

    // Assess: no key the endpoint ever had in the host output or any table row
    const written = new Map<string, string>();
    for (const name of [endpoint.secretName, `${endpoint.secretName}-pending`])
      for (const v of stack.emulators.control.secretVersions(name))
        written.set(v.value, `${name}/${v.version}`);
    const haystack = `${stack.hostOutput()}\n${await allTableRowsText(stack.storageConnectionString)}`;
    expect(written.size).toBeGreaterThanOrEqual(ROTATIONS + 1);
    expect(leakedSecrets(haystack, written)).toEqual([]);
  });
});
