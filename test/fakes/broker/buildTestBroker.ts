import { AzureClients } from '../../../shared/azureClients';
import type { CreatedBrokerClient } from '../../../shared/broker/BrokerClientAdminService';
import { type BrokerModule, createBrokerModule } from '../../../shared/broker/module';
import { loadConfig } from '../../../shared/config';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import type { ModuleRoot } from '../../../shared/services';
import { capturingSink, CapturingTelemetry } from '../capture';
import { FakeClock } from '../FakeClock';
import { CapturingAuditLog } from './CapturingAuditLog';
import { FakeUpstreamSource } from './FakeUpstreamSource';
import { FakeV1Services } from './FakeV1Services';
import { InMemoryBrokerClientRegistry } from './InMemoryBrokerClientRegistry';
import { InMemoryEndpointLookup, testEndpoint } from './InMemoryEndpointLookup';

/** The pepper the test broker uses (so secret-scan tests can look for it). */
export const TEST_PEPPER = 'test-pepper-0123456789-abcdefghijklmnopqrstuvwxyz';

/** A broker client as a test uses it: its id and the two secrets it was created with. */
export interface TestClient {
  readonly id: string;
  readonly primary: string;
  readonly secondary: string;
}

/** The test's view of what the admin service answered on create. */
export function testClientOf(created: CreatedBrokerClient): TestClient {
  return { id: created.client.id, primary: created.primarySecret, secondary: created.secondarySecret };
}

/** A broker module over fakes, with handles on every fake. */
export interface TestBroker {
  module: BrokerModule;
  clock: FakeClock;
  registry: InMemoryBrokerClientRegistry;
  endpoints: InMemoryEndpointLookup;
  audit: CapturingAuditLog;
  telemetry: CapturingTelemetry;
  aml: FakeUpstreamSource<ManagedEndpoint>;
  mi: FakeUpstreamSource<string>;
  keys: FakeUpstreamSource<ManagedEndpoint>;
  /** v1 service tokens and the v1 services' auth flags. */
  v1: FakeUpstreamSource<ManagedEndpoint>;
  v1Services: FakeV1Services;
  /** Formatted log lines. */
  logs: string[];
  /** Creates a client through the admin service; returns its id and secrets. */
  addClient(fields?: Record<string, unknown>): Promise<TestClient>;
}

/**
 * Builds the broker through `createBrokerModule` with fakes for every port. Endpoints `demo-token`
 * (AMLToken), `demo-aad` (AADToken), `demo-key` (Key, broker key access on) and the v1 AKS service
 * `demo-aks` (token auth on, region westeurope) exist. Time is a
 * `FakeClock` starting at `options.startMs` (default 2026-01-01T00:00Z; pass `Date.now()` when a real
 * client compares expiry times with its own clock).
 */
export function buildTestBroker(
  env: Record<string, string> = {},
  options: { startMs?: number } = {},
): TestBroker {
  const config = loadConfig({
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
    BROKER_SECRET_PEPPER: TEST_PEPPER,
    ...env,
  });
  const clock = new FakeClock(options.startMs);
  const telemetry = new CapturingTelemetry();
  // AzureClients builds SDK clients lazily; with every port faked none is ever built.
  const root: ModuleRoot = { config, clients: new AzureClients(config), telemetry, clock };
  const registry = new InMemoryBrokerClientRegistry();
  const endpoints = new InMemoryEndpointLookup();
  endpoints.add(testEndpoint('demo-token', 'AMLToken'));
  endpoints.add(testEndpoint('demo-aad', 'AADToken'));
  endpoints.add(testEndpoint('demo-key', 'Key', { brokerKeyAccess: true }));
  endpoints.add(
    testEndpoint('demo-aks', 'AMLToken', {
      kind: 'v1WebService',
      v1: { computeType: 'AKS', region: 'westeurope' },
    }),
  );
  const v1Services = new FakeV1Services();
  v1Services.set('demo-aks', { computeType: 'AKS', authEnabled: false, tokenAuthEnabled: true });
  const audit = new CapturingAuditLog();
  const aml = new FakeUpstreamSource<ManagedEndpoint>('amlToken', clock);
  const mi = new FakeUpstreamSource<string>('managedIdentity', clock);
  const keys = new FakeUpstreamSource<ManagedEndpoint>('keyVault', clock);
  const v1 = new FakeUpstreamSource<ManagedEndpoint>('v1ServiceToken', clock);
  const log = capturingSink();
  const module = createBrokerModule(root, {
    endpoints,
    clients: registry,
    audit,
    sources: { amlToken: aml, managedIdentity: mi, keyVault: keys, v1Token: v1 },
    v1Services,
    logSink: log.sink,
  });
  let n = 0;
  const addClient = async (fields: Record<string, unknown> = {}) =>
    testClientOf(
      await module.admin.create({
        id: `client-${++n}`,
        displayName: `Client ${n}`,
        allowedScopes: ['demo-token'],
        ...fields,
      }),
    );
  return {
    module,
    clock,
    registry,
    endpoints,
    audit,
    telemetry,
    aml,
    mi,
    keys,
    v1,
    v1Services,
    logs: log.lines,
    addClient,
  };
}
