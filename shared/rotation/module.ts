import { isoNow, realSleep, type Sleep } from '../clock';
import type { AppConfig } from '../config';
import { TableEndpointRegistry } from '../endpoints/TableEndpointRegistry';
import type { EndpointRules } from '../endpoints/validateEndpoint';
import { createLogger, type LogSink } from '../logging';
import type { ModuleRoot } from '../services';
import { StorageJsonQueue } from '../StorageJsonQueue';
import { ModelManagementClient } from '../v1/ModelManagementClient';
import { ArmEndpointKeyClient } from './adapters/ArmEndpointKeyClient';
import { ArmServerlessKeyClient } from './adapters/ArmServerlessKeyClient';
import { HttpScoringProbe } from './adapters/HttpScoringProbe';
import { KeyVaultSecretStore } from './adapters/KeyVaultSecretStore';
import { TableRotationJournal } from './adapters/TableRotationJournal';
import { V1WebServiceKeyClient } from './adapters/V1WebServiceKeyClient';
import { AzureEndpointCheck } from './AzureEndpointCheck';
import { EndpointKeyClientRouter } from './EndpointKeyClientRouter';
import type { RotationEventSink } from './RotationEventSink';
import type { RotationJob } from './RotationJob';
import type { RotationJournal } from './RotationJournal';
import { type RotationServices, wireRotation } from './wireRotation';

export type { RotationOutcome } from './KeyRotator';
export type { RotationEvent, RotationEventSink } from './RotationEventSink';
export type { RotationJob } from './RotationJob';

/** What other parts of the app may use: the services {@link wireRotation} builds. */
export type RotationModule = RotationServices;

/** Dependencies of {@link createRotationModule}. */
export interface RotationModuleDeps {
  /** Where KeyRotated / RotationFailed / DriftDetected go (the events module's sink). */
  events: RotationEventSink;
  /** @default realSleep */
  sleep?: Sleep;
  /** @default the console */
  logSink?: LogSink;
  /** How often ARM (default 1000) and v1 model-management (default 5000, as the v1 SDK) operations are polled. */
  armPollIntervalMs?: number;
  /** Wraps the Table journal (fault-injection tests: a crash right after a step). */
  decorateJournal?: (journal: RotationJournal) => RotationJournal;
  /** Told an endpoint's id after the admin API or an event wrote it. */
  onEndpointChange?: (endpointId: string) => void;
}

/** The rules every endpoint registration is validated by (API, events, `ENDPOINTS_FILE`). */
export function endpointRulesOf(config: AppConfig): EndpointRules {
  return {
    defaultPeriodHours: config.rotation.defaultPeriodHours,
    defaultGraceHours: config.rotation.defaultGraceHours,
    minGraceHours: config.rotation.minGraceHours,
    brokerMinLifetimeSeconds: config.broker.minTokenLifetimeSeconds,
  };
}

/**
 * Builds the rotation module over the real adapters: Key Vault, ARM (online and serverless endpoints),
 * the v1 model-management API (v1 web services),
 * fetch for the test step, Table storage for the registry and journal, a Storage queue for jobs (and its
 * poison queue, for messages that are not jobs).
 * @example const rotation = createRotationModule(services.root, { events: createRotationEventSink(services.root) })
 */
export function createRotationModule(root: ModuleRoot, deps: RotationModuleDeps): RotationModule {
  const { config, clients, clock, telemetry } = root;
  const sleep = deps.sleep ?? realSleep;
  const rules = endpointRulesOf(config);
  const decorate = deps.decorateJournal ?? ((journal: RotationJournal) => journal);
  const keys = new EndpointKeyClientRouter({
    onlineEndpoint: new ArmEndpointKeyClient({
      onlineEndpoints: (sub) => clients.machineLearning(sub).onlineEndpoints,
      sleep,
    }),
    serverlessEndpoint: new ArmServerlessKeyClient({
      client: (sub) => clients.machineLearning(sub),
      armEndpoint: config.arm.endpoint,
      apiVersion: config.arm.mlApiVersion,
      sleep,
      ...(deps.armPollIntervalMs ? { pollIntervalMs: deps.armPollIntervalMs } : {}),
    }),
    v1WebService: new V1WebServiceKeyClient(
      new ModelManagementClient({
        sender: { sendRequest: (request) => clients.modelManagement.sendRequest(request) },
        hostTemplate: config.v1.mmsHostTemplate,
        sleep,
        retries: {},
        ...(deps.armPollIntervalMs ? { pollIntervalMs: deps.armPollIntervalMs } : {}),
      }),
    ),
  });
  return wireRotation(
    {
      registry: new TableEndpointRegistry({
        table: clients.table(config.tables.endpoints),
        rules,
        ...(config.rotation.endpointsFile ? { endpointsFile: config.rotation.endpointsFile } : {}),
        now: () => isoNow(clock),
        logger: createLogger('EndpointRegistry', deps.logSink),
        telemetry,
      }),
      secrets: new KeyVaultSecretStore({ client: clients.secrets, sleep }),
      keys,
      registrationCheck: new AzureEndpointCheck({ keys }),
      probe: new HttpScoringProbe(),
      journal: decorate(
        new TableRotationJournal({ table: clients.table(config.tables.journal), clock, sleep }),
      ),
      jobs: new StorageJsonQueue<RotationJob>({
        client: clients.queue(config.rotation.queue),
        sleep,
        tryTimeLimitMs: clients.tryTimeLimitMs,
      }),
      poison: new StorageJsonQueue<never>({
        client: clients.queue(`${config.rotation.queue}-poison`),
        sleep,
        tryTimeLimitMs: clients.tryTimeLimitMs,
      }),
      events: deps.events,
      telemetry,
      clock,
      sleep,
      ...(deps.logSink ? { logSink: deps.logSink } : {}),
      ...(deps.onEndpointChange ? { onEndpointChange: deps.onEndpointChange } : {}),
    },
    {
      leaseSeconds: config.rotation.leaseSeconds,
      testTimeoutSeconds: config.rotation.testTimeoutSeconds,
      ...(config.rotation.functionTimeoutMs !== undefined
        ? { functionTimeoutMs: config.rotation.functionTimeoutMs }
        : {}),
      rules,
    },
  );
}
