import { AzureClients } from '../../../shared/azureClients';
import { loadConfig } from '../../../shared/config';
import type { EventsRotationPorts } from '../../../shared/events/EventsRotationPorts';
import { createEventsModule } from '../../../shared/events/module';
import { silentLogger } from '../../../shared/logging';
import { DriftDetector } from '../../../shared/rotation/DriftDetector';
import { EndpointKeyClientRouter } from '../../../shared/rotation/EndpointKeyClientRouter';
import { capturingSink, CapturingTelemetry } from '../../fakes/capture';
import { FakeEndpointDescriber } from '../../fakes/events/FakeEndpointDescriber';
import { InMemoryProcessedEventStore } from '../../fakes/events/InMemoryProcessedEventStore';
import { buildRotationFixture } from '../../fakes/rotation/buildRotationFixture';
import { CapturingRotationEventSink } from '../../fakes/rotation/CapturingRotationEventSink';
import { send } from './webhookTestKit';

/**
 * The webhook over the real rotation services (registry, drift check, admin) with the production key client
 * router, for events about an endpoint a newer version, deployed beside this one, registered with a kind or
 * auth mode this version does not know.
 */
function build(newer: Record<string, unknown>) {
  const f = buildRotationFixture();
  f.addEndpoint(
    { ...newer },
    {
      primaryKey: 'p-1',
      secondaryKey: 's-1',
    },
  );
  f.secrets.seed('demo-key-secret', 'written-by-hand');
  const drift = new DriftDetector({
    registry: f.registry,
    secrets: f.secrets,
    // As production wires it: one key client per kind this version knows
    keys: new EndpointKeyClientRouter({
      onlineEndpoint: f.keys,
      serverlessEndpoint: f.keys,
      v1WebService: f.keys,
    }),
    journal: f.journal,
    clock: f.clock,
    logger: silentLogger,
  });
  const rotation: EventsRotationPorts = {
    registry: f.registry,
    jobs: f.jobs,
    drift,
    admin: f.services.admin,
    secrets: f.secrets,
  };
  const config = loadConfig({
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    KEY_VAULT_URL: 'https://sample-kv.vault.azure.net/',
    BROKER_SECRET_PEPPER: 'p'.repeat(40),
  });
  const telemetry = new CapturingTelemetry();
  const processed = new InMemoryProcessedEventStore();
  const log = capturingSink();
  const module = createEventsModule(
    { config, clients: new AzureClients(config), telemetry, clock: f.clock },
    {
      rotation,
      describer: new FakeEndpointDescriber(),
      processed,
      sink: new CapturingRotationEventSink(),
      logSink: log.sink,
    },
  );
  return { f, module, processed, telemetry, logs: log.lines };
}

const unknownToThisVersion = [
  ['kind', { kind: 'managedComputeEndpoint' }],
  ['authMode', { authMode: 'ManagedIdentityToken' }],
] as const;

describe('Function: eventGridWebhook (an endpoint a newer version registered)', () => {
  describe('Method: SecretNewVersionCreated', () => {
    it.each(unknownToThisVersion)(
      'leaves the drift check of an endpoint whose %s this version does not know to a version that knows it: 503, not recorded',
      async (_field, newer) => {
        // Prepare: a person wrote the endpoint's secret; the new version's event reaches this (older) instance
        const { f, module, processed, telemetry } = build(newer);
        const current = await f.secrets.getCurrent('demo-key-secret');
        const event = {
          id: 'new-version-1',
          topic: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/sample-kv',
          subject: 'demo-key-secret',
          eventType: 'Microsoft.KeyVault.SecretNewVersionCreated',
          eventTime: '2026-11-23T01:00:00Z',
          data: { ObjectName: 'demo-key-secret', Version: current?.version, VaultName: 'sample-kv' },
          dataVersion: '1',
        };

        // Act
        const reply = await send(module, { body: JSON.stringify([event]) });

        // Assess: Event Grid delivers it again (perhaps to an instance that knows the endpoint); nothing was
        // judged, journaled, recorded processed or counted as rejected here
        expect(reply.status).toBe(503);
        expect(await processed.has('new-version-1', new Date('2026-11-23T01:00:00Z'))).toBe(false);
        expect(telemetry.metrics.filter((m) => m.name === 'EventsRejected')).toEqual([]);
        expect(f.keys.calls).toHaveLength(0);
        expect((await f.journal.getState('demo-key')).state.drift).toBeUndefined();
      },
    );
  });
});
