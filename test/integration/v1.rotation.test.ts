import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { AzureClients } from '../../shared/azureClients';
import { realSleep } from '../../shared/clock';
import { type AppConfig, loadConfig } from '../../shared/config';
import type { ManagedEndpoint } from '../../shared/endpoints/ManagedEndpoint';
import { DependencyUnavailableError } from '../../shared/errors';
import { createRotationModule, type RotationModule } from '../../shared/rotation/module';
import type { RotationJob } from '../../shared/rotation/RotationJob';
import { noopTelemetry } from '../../shared/telemetry';
import { ModelManagementClient } from '../../shared/v1/ModelManagementClient';
import { V1RuleError } from '../../shared/v1/v1Rules';
import { testEndpoint } from '../fakes/broker/InMemoryEndpointLookup';
import { CapturingRotationEventSink } from '../fakes/rotation/CapturingRotationEventSink';
import { standInSettings, useEmulatorIdentity, withEmulators } from '../support/emulators';
import { timersLeftBy } from '../support/pendingTimers';
import { standInVaultClient, startProbeClient } from '../support/probeClient';
import { sleep, waitFor } from '../support/waitFor';

/**
 * Rotation of Azure ML SDK v1 web services with the real adapters (the MMS pipeline with the managed
 * identity's ARM token, Key Vault, Tables on Azurite) against the model-management stand-in, whose
 * regional host is `{emulator}/mms/{region}`. Needs NODE_EXTRA_CA_CERTS (set by `npm test`).
 */
const WS = {
  subscriptionId: '00000000-0000-0000-0000-0000000000v1',
  resourceGroup: 'rg-v1',
  workspace: 'ws-v1',
};
const REGION = 'northeurope';
// ~3 s: consumers re-read Key Vault within the grace period (here: on their next 401), so the grace must
// outlast a probe stalled on a loaded machine between its Key Vault read and its next scoring call.
const GRACE_HOURS = 0.0008;

jest.setTimeout(120_000);

describe('v1 web service rotation on the local stack', () => {
  let emulators: RunningEmulators;
  let azurite: RunningAzurite;
  let config: AppConfig;
  let module: RotationModule;
  let restoreEnv: () => void = () => undefined;
  const logs: string[] = [];
  const events = new CapturingRotationEventSink();
  const coords = (name: string) => ({ ...WS, name });
  const job = (endpointId: string): RotationJob => ({
    endpointId,
    reason: 'manual',
    requestedAt: new Date().toISOString(),
  });

  async function register(name: string, computeType: 'AKS' | 'ACI'): Promise<ManagedEndpoint> {
    return module.admin.register({
      id: name,
      kind: 'v1WebService',
      arm: coords(name),
      v1: { computeType, region: REGION },
      authMode: 'Key',
      secretName: `${name}-secret`,
      gracePeriodHours: GRACE_HOURS,
      rotationPeriodHours: 1,
    });
  }

  /** Runs manual jobs until one rotates (waiting out the short grace period). */
  async function rotateOnce(endpointId: string): Promise<void> {
    for (;;) {
      const outcome = await module.rotator.run(job(endpointId));
      if (outcome.status === 'rotated') return;
      expect(outcome).toMatchObject({ status: 'skipped', reason: 'inGrace' });
      await sleep(250);
    }
  }

  beforeAll(async () => {
    [emulators, azurite] = await Promise.all([withEmulators(), startAzurite()]);
    restoreEnv = useEmulatorIdentity(emulators);
    emulators.control.addWorkspace({ ...WS, location: REGION });
    emulators.control.setRegenerateDelayMs(50);
    config = loadConfig({
      ...standInSettings(emulators, azurite, 'v1r'),
      V1_MMS_HOST_TEMPLATE: `${emulators.url}/mms/{region}`,
      ROTATION_PERIOD_HOURS: '1',
      ROTATION_GRACE_HOURS: '0',
      ROTATION_MIN_GRACE_HOURS: '0',
      ROTATION_LEASE_SECONDS: '30',
      ROTATION_TEST_TIMEOUT_SECONDS: '5',
    });
    const root = {
      config,
      clients: new AzureClients(config),
      telemetry: noopTelemetry,
      clock: { now: () => Date.now() },
    };
    module = createRotationModule(root, {
      events,
      logSink: (level, line) => logs.push(`${level} ${line}`),
      armPollIntervalMs: 50,
    });
  });

  afterAll(async () => {
    restoreEnv();
    await Promise.all([emulators?.stop(), azurite?.stop()]);
  });

  afterEach(() => emulators.control.clearFaults());

  it('a client reading the ACI key from Key Vault sees zero rejected calls across 6 consecutive rotations', async () => {
    // Prepare
    const { scoringUri } = emulators.control.addV1Service({
      ...coords('aci-key'),
      computeType: 'ACI',
      authEnabled: true,
    });
    const endpoint = await register('aci-key', 'ACI');
    await module.rotator.run(job(endpoint.id)); // onboarding: Primary published, Secondary rotated
    const before = emulators.control.counters()['mms.regenerateKeys'] ?? 0;
    const probe = startProbeClient({
      vault: standInVaultClient(emulators.url),
      secretName: endpoint.secretName,
      scoringUri,
    });
    // Act
    for (let i = 0; i < 6; i += 1) await rotateOnce(endpoint.id);
    const { accepted, rejected } = await probe.stop();
    // Assess
    expect(rejected).toBe(0);
    expect(accepted).toBeGreaterThan(6);
    // At least one regenerate per rotation (a POST retried after a lost answer may add one).
    expect((emulators.control.counters()['mms.regenerateKeys'] ?? 0) - before).toBeGreaterThanOrEqual(6);
    const versions = emulators.control.secretVersions(endpoint.secretName);
    expect(versions).toHaveLength(8);
    const latest = versions.at(-1);
    const keys = emulators.control.keys(coords('aci-key'));
    expect(latest?.value).toBe(latest?.tags['slot'] === 'Primary' ? keys.primaryKey : keys.secondaryKey);
    expect(versions.map((v) => v.tags['slot'])).toEqual([
      'Primary',
      ...Array.from({ length: 7 }, (_, i) => (i % 2 === 0 ? 'Secondary' : 'Primary')),
    ]);
    expect(emulators.control.secretVersions(`${endpoint.secretName}-pending`).every((v) => !v.enabled)).toBe(
      true,
    );
  });

  it('refuses to rotate an ACI service with key auth off (the v1 default), naming the rule, before touching anything', async () => {
    // Prepare: auth_enabled left at its ACI default (off)
    emulators.control.addV1Service({ ...coords('aci-open'), computeType: 'ACI' });
    const endpoint = await register('aci-open', 'ACI');
    // Act
    // One after the other: a run holding the lease would make rotate-now answer 409 instead.
    const rotateNow = await module.admin.rotateNow(endpoint.id).catch((e: unknown) => e);
    const run = await module.rotator.run(job(endpoint.id)).catch((e: unknown) => e);
    // Assess
    expect(rotateNow).toBeInstanceOf(V1RuleError);
    expect(rotateNow).toMatchObject({ status: 422, code: 'V1_KEY_AUTH_DISABLED' });
    expect(run).toBeInstanceOf(V1RuleError);
    expect((run as Error).message).toMatch(/auth_enabled=True/);
    expect(emulators.control.secretVersions(endpoint.secretName)).toEqual([]);
    expect((await module.admin.status(endpoint.id)).lastError).toMatchObject({
      code: 'V1_KEY_AUTH_DISABLED',
    });
  });

  it('a region outage fails the rotation as unavailable without touching Key Vault; it completes once the region is back', async () => {
    // Prepare: an AKS service with key auth (the AKS default)
    emulators.control.addV1Service({ ...coords('aks-key'), computeType: 'AKS' });
    const endpoint = await register('aks-key', 'AKS');
    emulators.control.setFault('modelManagement', { outage: true }, REGION);
    // Act
    const during = module.rotator.run(job(endpoint.id));
    await expect(during).rejects.toThrow(DependencyUnavailableError);
    const untouched = emulators.control.secretVersions(endpoint.secretName);
    emulators.control.setFault('modelManagement', undefined, REGION);
    const after = await module.rotator.run(job(endpoint.id));
    // Assess
    expect(untouched).toEqual([]);
    expect(after).toMatchObject({ status: 'rotated', slot: 'Secondary' });
    expect(emulators.control.counters()['mms.get.faulted']).toBeGreaterThan(0);
  });

  it('a run out of time during the pause a 503 asked for stops at once, sends no more and leaves no timer', async () => {
    // Prepare: the region answers 503 with Retry-After: 30; the client as the rotation module builds it
    // (the MMS pipeline does not retry, withRetries does), and the run's signal
    emulators.control.addV1Service({ ...coords('aks-busy'), computeType: 'AKS' });
    emulators.control.setFault('modelManagement', { status: 503, retryAfterSeconds: 30 }, REGION);
    const clients = new AzureClients(config);
    const mms = new ModelManagementClient({
      sender: clients.modelManagement,
      hostTemplate: config.v1.mmsHostTemplate,
      sleep: realSleep,
      retries: {},
    });
    const endpoint = {
      ...testEndpoint('aks-busy', 'Key', { arm: coords('aks-busy') }),
      kind: 'v1WebService' as const,
      v1: { computeType: 'AKS' as const, region: REGION },
    };
    const run = new AbortController();
    const sent = () => emulators.control.counters()['mms.listKeys'] ?? 0;
    const before = sent();
    let outcome: unknown;
    let stoppedIn = Infinity;

    // Act: the run's budget is spent while the client waits out the 503's Retry-After
    const left = await timersLeftBy(async () => {
      const call = mms.listKeys(endpoint, run.signal).catch((error: unknown) => (error as Error).name);
      await waitFor('the first listKeys answered', () => sent() > before);
      await sleep(100);
      const givenUpAt = Date.now();
      run.abort(new DOMException('The rotation run is out of time.', 'AbortError'));
      outcome = await call;
      stoppedIn = Date.now() - givenUpAt;
    });

    // Assess
    expect(outcome).toBe('AbortError');
    expect(stoppedIn).toBeLessThan(1000);
    expect(left).toEqual([]);
    expect(sent() - before).toBe(1);
  });

  it('left no v1 key in any log line, journal row or event', async () => {
    // Prepare
    const keys = ['aci-key', 'aks-key'].flatMap((n) => Object.values(emulators.control.keys(coords(n))));
    const written = ['aci-key', 'aks-key'].flatMap((n) => [
      ...emulators.control.secretVersions(`${n}-secret`).map((v) => v.value),
      ...emulators.control.secretVersions(`${n}-secret-pending`).map((v) => v.value),
    ]);
    const rows: string[] = [];
    const table = new AzureClients(config).table(config.tables.journal);
    for await (const row of table.listEntities()) rows.push(JSON.stringify(row));
    // Assess
    const haystack = [...logs, ...rows, JSON.stringify(events.events)].join('\n');
    expect(rows.length).toBeGreaterThan(10);
    for (const secret of new Set([...keys, ...written].filter(Boolean)))
      expect(haystack).not.toContain(secret);
  });
});
