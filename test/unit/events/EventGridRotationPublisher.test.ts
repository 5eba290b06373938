import { AzureClients } from '../../../shared/azureClients';
import { loadConfig } from '../../../shared/config';
import {
  type CloudEventPublisher,
  EventGridRotationPublisher,
  type OutgoingCloudEvent,
} from '../../../shared/events/EventGridRotationPublisher';
import { createRotationEventSink } from '../../../shared/events/module';
import { noopRotationEventSink, type RotationEvent } from '../../../shared/events/RotationEvent';
import { noopTelemetry } from '../../../shared/telemetry';
import { CapturingLogger, CapturingTelemetry } from '../../fakes/events/capture';

const rotated: RotationEvent = {
  type: 'KeyRotated',
  endpointId: 'demo-key',
  secretName: 'demo-key-secret',
  slot: 'Secondary',
  secretVersion: 'v2',
  rotationId: 'r-1',
  time: '2026-11-23T02:00:00.000Z',
};

describe('Class: EventGridRotationPublisher', () => {
  describe('Method: publish', () => {
    it('sends one CloudEvent with the allow-listed fields only', async () => {
      // Prepare
      const sent: OutgoingCloudEvent[][] = [];
      const client: CloudEventPublisher = { send: async (events) => void sent.push(events) };
      const publisher = new EventGridRotationPublisher({
        client,
        logger: new CapturingLogger(),
        telemetry: noopTelemetry,
        newId: () => 'evt-1',
      });
      const withExtra = { ...rotated, key: 'SUPER-SECRET-KEY' } as RotationEvent;

      // Act
      await publisher.publish(withExtra);

      // Assess
      expect(sent).toEqual([
        [
          {
            id: 'evt-1',
            type: 'aml-credential-broker.KeyRotated',
            source: '/aml-credential-broker/endpoints/demo-key',
            subject: 'demo-key-secret',
            time: new Date('2026-11-23T02:00:00.000Z'),
            datacontenttype: 'application/json',
            data: {
              endpointId: 'demo-key',
              secretName: 'demo-key-secret',
              slot: 'Secondary',
              secretVersion: 'v2',
              rotationId: 'r-1',
              time: '2026-11-23T02:00:00.000Z',
            },
          },
        ],
      ]);
      expect(JSON.stringify(sent)).not.toContain('SUPER-SECRET-KEY');
    });

    it('logs and counts a failed publish without throwing', async () => {
      // Prepare
      const logger = new CapturingLogger();
      const telemetry = new CapturingTelemetry();
      const publisher = new EventGridRotationPublisher({
        client: { send: () => Promise.reject(Object.assign(new Error('boom'), { statusCode: 503 })) },
        logger,
        telemetry,
      });

      // Act
      await publisher.publish({ ...rotated, type: 'RotationFailed', step: 'set' });

      // Assess
      expect(telemetry.count('EventsPublishFailed')).toBe(1);
      expect(logger.lines).toEqual([
        expect.objectContaining({ level: 'warn', message: 'publish => failed, rotation unaffected' }),
      ]);
    });
  });
});

describe('Function: createRotationEventSink', () => {
  const env = {
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
    BROKER_SECRET_PEPPER: 'p'.repeat(40),
  };
  const rootOf = (extra: Record<string, string>) => {
    const config = loadConfig({ ...env, ...extra });
    return { config, clients: new AzureClients(config), telemetry: noopTelemetry, clock: { now: () => 0 } };
  };

  it('sends nothing when no topic is configured', () => {
    // Act + Assess
    expect(createRotationEventSink(rootOf({}))).toBe(noopRotationEventSink);
  });

  it('builds an Event Grid publisher when a topic is configured', () => {
    // Act
    const sink = createRotationEventSink(
      rootOf({
        EVENT_GRID_TOPIC_ENDPOINT: 'https://t.westeurope-1.eventgrid.azure.net/api/events',
        EVENT_GRID_TOPIC_KEY: 'k',
      }),
    );

    // Assess
    expect(sink).toBeInstanceOf(EventGridRotationPublisher);
  });
});
