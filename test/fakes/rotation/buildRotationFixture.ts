import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import type { EndpointRules } from '../../../shared/endpoints/validateEndpoint';
import { DEFAULT_PROBE } from '../../../shared/endpoints/validateProbe';
import type { RegistrationCheck } from '../../../shared/rotation/EndpointAdminService';
import { type RotationServices, wireRotation } from '../../../shared/rotation/wireRotation';
import { CapturingTelemetry } from '../capture';
import { FakeClock } from '../FakeClock';
import { InMemoryPoisonQueue } from '../InMemoryPoisonQueue';
import { CapturingRotationEventSink } from './CapturingRotationEventSink';
import { FakeEndpointKeyClient } from './FakeEndpointKeyClient';
import { FakeScoringProbe } from './FakeScoringProbe';
import { FaultPlan } from './FaultPlan';
import { InMemoryEndpointRegistry } from './InMemoryEndpointRegistry';
import { InMemoryRotationJobQueue } from './InMemoryRotationJobQueue';
import { InMemoryRotationJournal } from './InMemoryRotationJournal';
import { InMemorySecretStore } from './InMemorySecretStore';

/** Every fake plus the wired rotation services over them. */
export interface RotationFixture {
  clock: FakeClock;
  faults: FaultPlan;
  secrets: InMemorySecretStore;
  keys: FakeEndpointKeyClient;
  probe: FakeScoringProbe;
  journal: InMemoryRotationJournal;
  registry: InMemoryEndpointRegistry;
  jobs: InMemoryRotationJobQueue;
  /** `rotation-jobs-poison`: messages that are not jobs. */
  poison: InMemoryPoisonQueue;
  events: CapturingRotationEventSink;
  telemetry: CapturingTelemetry;
  logs: string[];
  /** Endpoint ids the admin service reported as written, in order. */
  changedEndpoints: string[];
  services: RotationServices;
  /** Registers an endpoint with the fake registry and the fake ARM. */
  addEndpoint(
    overrides?: Partial<ManagedEndpoint>,
    keys?: { primaryKey?: string; secondaryKey?: string },
  ): ManagedEndpoint;
  /** A second set of services over the same fakes (another process). */
  anotherProcess(): RotationServices;
}

/** Builds the rotation module over in-memory fakes: period 100 h, grace 25 h, lease 600 s, test timeout 60 s. */
export function buildRotationFixture(
  options: {
    leaseSeconds?: number;
    testTimeoutSeconds?: number;
    /** The host's functionTimeout when an app setting overrides host.json's. */
    functionTimeoutMs?: number;
    rules?: Partial<EndpointRules>;
    /** Reads each registration's endpoint at Azure first (none by default: the fake ARM knows endpoints by id). */
    registrationCheck?: RegistrationCheck;
  } = {},
): RotationFixture {
  const clock = new FakeClock();
  const faults = new FaultPlan();
  const secrets = new InMemorySecretStore(clock, faults);
  const keys = new FakeEndpointKeyClient(clock, faults);
  const probe = new FakeScoringProbe(keys);
  const journal = new InMemoryRotationJournal(clock, faults);
  const registry = new InMemoryEndpointRegistry();
  const jobs = new InMemoryRotationJobQueue();
  const poison = new InMemoryPoisonQueue('rotation-jobs-poison');
  const events = new CapturingRotationEventSink(faults);
  const telemetry = new CapturingTelemetry();
  const logs: string[] = [];
  const changedEndpoints: string[] = [];
  let keyCounter = 0;
  const build = (): RotationServices =>
    wireRotation(
      {
        registry,
        secrets,
        keys,
        probe,
        journal,
        jobs,
        poison,
        events,
        telemetry,
        clock,
        sleep: clock.sleep,
        repeat: clock.repeat,
        logSink: (level, line) => logs.push(`${level} ${line}`),
        onEndpointChange: (id) => void changedEndpoints.push(id),
        ...(options.registrationCheck ? { registrationCheck: options.registrationCheck } : {}),
        generateKey: () => `new-key-${(keyCounter += 1)}-${Math.random().toString(36).slice(2, 10)}`,
      },
      {
        leaseSeconds: options.leaseSeconds ?? 600,
        testTimeoutSeconds: options.testTimeoutSeconds ?? 60,
        ...(options.functionTimeoutMs ? { functionTimeoutMs: options.functionTimeoutMs } : {}),
        rules: { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24, ...options.rules },
      },
    );
  const addEndpoint = (
    overrides: Partial<ManagedEndpoint> = {},
    initial: { primaryKey?: string; secondaryKey?: string } = {},
  ): ManagedEndpoint => {
    const id = overrides.id ?? 'demo-key';
    const endpoint: ManagedEndpoint = {
      id,
      kind: 'onlineEndpoint',
      arm: { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: id },
      authMode: 'Key',
      secretName: `${id}-secret`,
      rotationPeriodHours: 100,
      gracePeriodHours: 25,
      probe: DEFAULT_PROBE,
      brokerKeyAccess: false,
      enabled: true,
      createdAt: new Date(clock.now()).toISOString(),
      updatedAt: new Date(clock.now()).toISOString(),
      ...overrides,
    };
    registry.endpoints.set(id, endpoint);
    keys.add(id, { authMode: endpoint.authMode, ...initial });
    return endpoint;
  };
  return {
    clock,
    faults,
    secrets,
    keys,
    probe,
    journal,
    registry,
    jobs,
    poison,
    events,
    telemetry,
    logs,
    changedEndpoints,
    services: build(),
    addEndpoint,
    anotherProcess: build,
  };
}
