import { AzureClients } from '../../../shared/azureClients';
import { loadConfig } from '../../../shared/config';
import type { EndpointDescriber } from '../../../shared/events/EndpointDescriber';
import { createEventsModule, type EventsModule } from '../../../shared/events/module';
import type { RotationEventSink } from '../../../shared/events/RotationEvent';
import type { ModuleRoot } from '../../../shared/services';
import { capturingSink, CapturingTelemetry } from '../capture';
import { FakeClock } from '../FakeClock';
import { CapturingRotationEventSink } from '../rotation/CapturingRotationEventSink';
import { FakeEndpointDescriber } from './FakeEndpointDescriber';
import { FakeRotationPorts } from './FakeRotationPorts';
import { InMemoryProcessedEventStore } from './InMemoryProcessedEventStore';

/** Everything a webhook test needs: the real module wired over in-memory fakes. */
export interface TestEventsModule {
  module: EventsModule;
  rotation: FakeRotationPorts;
  describer: FakeEndpointDescriber;
  processed: InMemoryProcessedEventStore;
  sink: CapturingRotationEventSink;
  telemetry: CapturingTelemetry;
  clock: FakeClock;
  /** Formatted log lines (`level line`). */
  logs: string[];
  /** Endpoint ids whose current key a write outside rotation replaced, in order. */
  keysReplaced: string[];
}

/**
 * Builds the events module through `createEventsModule` with fakes for every port (or the describer, or the
 * sink, given: `sink` is then the capturing one, which nothing publishes to).
 */
export function buildTestEventsModule(
  env: Record<string, string> = {},
  ports: { describer?: EndpointDescriber; sink?: RotationEventSink } = {},
): TestEventsModule {
  const config = loadConfig({
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    // The vault of the recorded Key Vault events in test/fixtures: events about another vault are not ours.
    KEY_VAULT_URL: 'https://sample-kv.vault.azure.net/',
    BROKER_SECRET_PEPPER: 'p'.repeat(40),
    ...env,
  });
  const clock = new FakeClock(Date.parse('2026-11-23T02:00:00Z'));
  const telemetry = new CapturingTelemetry();
  // AzureClients builds SDK clients lazily; with every port faked none is ever built.
  const root: ModuleRoot = { config, clients: new AzureClients(config), telemetry, clock };
  const rotation = new FakeRotationPorts();
  const describer = new FakeEndpointDescriber();
  const processed = new InMemoryProcessedEventStore();
  const sink = new CapturingRotationEventSink();
  const log = capturingSink();
  const keysReplaced: string[] = [];
  const module = createEventsModule(root, {
    rotation,
    describer: ports.describer ?? describer,
    processed,
    sink: ports.sink ?? sink,
    logSink: log.sink,
    onKeyReplaced: (id) => void keysReplaced.push(id),
  });
  return { module, rotation, describer, processed, sink, telemetry, clock, logs: log.lines, keysReplaced };
}
