import { AzureClients } from '../../../shared/azureClients';
import { loadConfig } from '../../../shared/config';
import { createEventsModule } from '../../../shared/events/module';
import { TableProcessedEventStore } from '../../../shared/events/TableProcessedEventStore';
import { noopTelemetry } from '../../../shared/telemetry';
import { FakeRotationPorts } from '../../fakes/events/FakeRotationPorts';

describe('Function: createEventsModule', () => {
  it('wires the Table-backed store and the configured sink by default, without touching Azure', async () => {
    // Prepare
    const config = loadConfig({
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
      BROKER_SECRET_PEPPER: 'p'.repeat(40),
    });
    const root = {
      config,
      clients: new AzureClients(config),
      telemetry: noopTelemetry,
      clock: { now: () => 0 },
    };

    // Act
    const module = createEventsModule(root, { rotation: new FakeRotationPorts() });

    // Assess
    expect(module.processed).toBeInstanceOf(TableProcessedEventStore);
    await expect(
      module.sink.publish({ type: 'KeyRotated', endpointId: 'e', secretName: 's', time: '' }),
    ).resolves.toBeUndefined();
    expect(typeof module.webhook.deliver).toBe('function');
  });
});
