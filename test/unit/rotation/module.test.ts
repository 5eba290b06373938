import { AzureClients } from '../../../shared/azureClients';
import { loadConfig } from '../../../shared/config';
import type { EventsRotationPorts } from '../../../shared/events/EventsRotationPorts';
import { createRotationModule, type RotationModule } from '../../../shared/rotation/module';
import { noopTelemetry } from '../../../shared/telemetry';
import { FakeClock } from '../../fakes/FakeClock';
import { CapturingRotationEventSink } from '../../fakes/rotation/CapturingRotationEventSink';

describe('Function: createRotationModule', () => {
  it('builds every part lazily (no network at construction) and fits the ports the events module uses', () => {
    // Prepare
    const config = loadConfig({
      AzureWebJobsStorage: 'UseDevelopmentStorage=true',
      KEY_VAULT_URL: 'https://example.vault.azure.net',
      BROKER_SECRET_PEPPER: 'unit-pepper-0123456789abcdefghijklmnopqrstuv',
    });

    // Act
    const module: RotationModule = createRotationModule(
      { config, clients: new AzureClients(config), telemetry: noopTelemetry, clock: new FakeClock() },
      { events: new CapturingRotationEventSink() },
    );
    const forEvents: EventsRotationPorts = module;

    // Assess
    expect(Object.keys(module).sort()).toEqual([
      'admin',
      'drift',
      'jobs',
      'journal',
      'registry',
      'rotator',
      'scheduler',
      'secrets',
      'worker',
    ]);
    expect(forEvents.registry).toBe(module.registry);
  });
});
