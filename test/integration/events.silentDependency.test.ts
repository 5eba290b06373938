import { azuriteConnectionString } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { AzureClients } from '../../shared/azureClients';
import { realSleep, systemClock } from '../../shared/clock';
import { loadConfig } from '../../shared/config';
import type { EventsRotationPorts } from '../../shared/events/EventsRotationPorts';
import { EventWebhook } from '../../shared/events/EventWebhook';
import type { EventsModule } from '../../shared/events/module';
import { createEventsModule } from '../../shared/events/module';
import { silentLogger } from '../../shared/logging';
import { KeyVaultSecretStore } from '../../shared/rotation/adapters/KeyVaultSecretStore';
import type { ModuleRoot } from '../../shared/services';
import { CapturingTelemetry } from '../fakes/capture';
import { FakeRotationPorts } from '../fakes/events/FakeRotationPorts';
import { InMemoryProcessedEventStore } from '../fakes/events/InMemoryProcessedEventStore';
import { CapturingRotationEventSink } from '../fakes/rotation/CapturingRotationEventSink';
import { useEmulatorIdentity, withEmulators } from '../support/emulators';
import { SilentServer } from '../support/SilentServer';
import { waitFor } from '../support/waitFor';
import { send } from '../unit/events/webhookTestKit';

/** Far longer than the delivery's budget here: only the budget can end the read in time. */
const TRY_TIME_LIMIT_MS = 10_000;
const BUDGET_MS = 1_000;

/** The webhook over `root`'s clients, `rotation` and an in-memory processed-events store, with a 1-s budget. */
function webhookOver(root: ModuleRoot, rotation: EventsRotationPorts) {
  const processed = new InMemoryProcessedEventStore();
  const { router } = createEventsModule(root, {
    rotation,
    processed,
    sink: new CapturingRotationEventSink(),
    logSink: () => undefined,
  });
  const webhook = new EventWebhook({
    router,
    processed,
    clock: systemClock,
    logger: silentLogger,
    telemetry: root.telemetry,
    budgetMs: BUDGET_MS,
  });
  return { module: { webhook } as unknown as EventsModule, processed };
}

/**
 * The webhook with a Key Vault (or ARM) that accepts connections and never answers: the delivery is answered 503 when
 * its budget is spent, not when the SDK's tries and our retries give up, and the read's request is aborted
 * (the server sees its connection closed), so nothing of the reaction runs on after the answer.
 */
describe('Event Grid webhook facing a Key Vault that does not answer', () => {
  let silent: SilentServer;
  let emulators: RunningEmulators;
  let restoreEnv: () => void = () => undefined;
  let root: ModuleRoot;

  beforeAll(async () => {
    [silent, emulators] = await Promise.all([SilentServer.start(), withEmulators()]);
    restoreEnv = useEmulatorIdentity(emulators);
    const config = loadConfig({
      AzureWebJobsStorage: azuriteConnectionString({
        blob: silent.port,
        queue: silent.port,
        table: silent.port,
      }),
      KEY_VAULT_URL: `https://127.0.0.1:${silent.port}/`,
      KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
      ARM_ENDPOINT: `https://127.0.0.1:${silent.port}`,
      AUTO_REGISTER_ENABLED: 'true',
      BROKER_SECRET_PEPPER: 'p'.repeat(40),
    });
    const clients = new AzureClients(config, { tryTimeLimitMs: TRY_TIME_LIMIT_MS });
    root = { config, clients, telemetry: new CapturingTelemetry(), clock: systemClock };
  });

  afterAll(async () => {
    restoreEnv();
    await Promise.all([silent?.stop(), emulators?.stop()]);
  });

  it('answers an expiry 503 at the budget, the Key Vault request aborted, no job enqueued', async () => {
    // Prepare: the registry and queue in memory, the secret read from the silent Key Vault
    const fakes = new FakeRotationPorts();
    fakes.addEndpoint({ id: 'demo', secretName: 'demo-key' });
    const store = new KeyVaultSecretStore({ client: root.clients.secrets, sleep: realSleep });
    const rotation = { ...fakes, secrets: { getCurrent: store.getCurrent.bind(store) } };
    const { module, processed } = webhookOver(root, rotation);
    const before = silent.connections().accepted;
    const event = {
      id: 'e-1',
      topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
      subject: 'demo-key',
      eventType: 'Microsoft.KeyVault.SecretNearExpiry',
      eventTime: '2026-11-23T01:00:00Z',
      data: { ObjectName: 'demo-key', Version: 'v1', NBF: null, EXP: 1766451600 },
      dataVersion: '1',
    };

    // Act
    const started = Date.now();
    const reply = await send(module, { body: JSON.stringify([event]) });
    const ms = Date.now() - started;

    // Assess: on time and retryable; Key Vault was reached, and its connection closed again
    expect(reply.status).toBe(503);
    expect(reply.headers).toEqual(expect.objectContaining({ 'retry-after': '5' }));
    expect(ms).toBeGreaterThanOrEqual(BUDGET_MS - 50);
    expect(ms).toBeLessThan(BUDGET_MS + 2_000);
    expect(silent.connections().accepted).toBeGreaterThan(before);
    await waitFor('every connection closed', () => silent.connections().open === 0, { timeoutMs: 2000 });
    expect(fakes.enqueued).toHaveLength(0);
    expect(processed.records.size).toBe(0);
  });

  it('answers an ARM write 503 at the budget, the ARM read of the endpoint aborted, nothing registered after', async () => {
    // Prepare: the registry in memory (nothing registered), the endpoint described by the silent ARM
    const rotation = new FakeRotationPorts();
    const { module, processed } = webhookOver(root, rotation);
    const before = silent.connections().accepted;
    const resourceUri =
      '/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/ep';
    const event = {
      id: 'w-1',
      topic: '/subscriptions/00000000-0000-0000-0000-000000000001',
      subject: resourceUri,
      eventType: 'Microsoft.Resources.ResourceWriteSuccess',
      eventTime: '2026-11-23T01:00:00Z',
      data: { resourceUri },
      dataVersion: '2',
    };

    // Act
    const started = Date.now();
    const reply = await send(module, { body: JSON.stringify([event]) });
    const ms = Date.now() - started;

    // Assess: on time and retryable; ARM was reached, and its connection closed again (the SDK request was
    // handed the delivery's signal, where before it held its socket for the try's 10 s)
    expect(reply.status).toBe(503);
    expect(ms).toBeGreaterThanOrEqual(BUDGET_MS - 50);
    expect(ms).toBeLessThan(BUDGET_MS + 2_000);
    expect(silent.connections().accepted).toBeGreaterThan(before);
    await waitFor('every connection closed', () => silent.connections().open === 0, { timeoutMs: 2000 });
    expect(rotation.registered).toHaveLength(0);
    expect(processed.records.size).toBe(0);
  });
});
