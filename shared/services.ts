import { AzureClients } from './azureClients';
import { type BrokerModule, createBrokerModule } from './broker/module';
import { type Clock, isoNow, systemClock } from './clock';
import { type AppConfig, loadConfig } from './config';
import { readEndpointsFile } from './endpoints/endpointsFile';
import {
  createEventsModule,
  createPublishRetryWorker,
  createRotationEventSink,
  type EventsModule,
  type RotationEventPublisher,
} from './events/module';
import type { PublishRetryWorker } from './events/PublishRetryWorker';
import { dependencyProbes, HealthCheck } from './health';
import { createLogger } from './logging';
import { createRotationModule, endpointRulesOf, type RotationModule } from './rotation/module';
import { createTelemetry, readHostSampling, type Telemetry } from './telemetry';

/** What every domain module factory receives from the composition root. */
export interface ModuleRoot {
  readonly config: AppConfig;
  readonly clients: AzureClients;
  readonly telemetry: Telemetry;
  readonly clock: Clock;
}

/**
 * The composition root: the one place that turns configuration into wired services. Everything is
 * built lazily and once per process, so each Azure client (and its token cache) is shared by every
 * invocation, and a function only pays for what it uses. Handlers resolve services inside the
 * invocation (never at import time), which keeps module import cheap and tests free of module mocks.
 */
export class Services {
  readonly clients: AzureClients;
  private telemetryInstance?: Telemetry;
  private healthInstance?: HealthCheck;
  private sinkInstance?: RotationEventPublisher;
  private publishRetriesInstance?: PublishRetryWorker;
  private rotationInstance?: RotationModule;
  private brokerInstance?: BrokerModule;
  private eventsInstance?: EventsModule;

  /**
   * Drops what this process's broker cached about an endpoint (if the broker was built here at all).
   * Other instances see a registration change when their endpoint lookup (30 s) runs out, and a new
   * version of a key's secret at the key's next refresh (by default half the grace period).
   */
  private readonly forgetBrokeredEndpoint = (endpointId: string): void =>
    this.brokerInstance?.invalidateEndpoint(endpointId);

  constructor(
    readonly config: AppConfig,
    readonly clock: Clock = systemClock,
  ) {
    this.clients = new AzureClients(config);
  }

  /** The pieces every module factory needs. */
  get root(): ModuleRoot {
    return { config: this.config, clients: this.clients, telemetry: this.telemetry, clock: this.clock };
  }

  /** Application Insights when configured, otherwise a no-op. */
  get telemetry(): Telemetry {
    this.telemetryInstance ??= createTelemetry({
      connectionString: this.config.telemetry.connectionString,
      roleName: 'aml-credential-broker',
      sampling: readHostSampling(),
      logger: createLogger('Telemetry'),
    });
    return this.telemetryInstance;
  }

  /**
   * Where KeyRotated / RotationFailed / DriftDetected go; shared by rotation, the event reactions and
   * the queue function that tries failed publishes again.
   */
  get rotationEvents(): RotationEventPublisher {
    this.sinkInstance ??= createRotationEventSink(this.root);
    return this.sinkInstance;
  }

  /** Messages on `EVENTS_RETRY_QUEUE` → one more try of their event (the `eventPublishRetry` queue function). */
  get publishRetries(): PublishRetryWorker {
    this.publishRetriesInstance ??= createPublishRetryWorker(this.root, this.rotationEvents);
    return this.publishRetriesInstance;
  }

  /** Endpoint registry, rotation protocol, scheduler and admin. */
  get rotation(): RotationModule {
    this.rotationInstance ??= createRotationModule(this.root, {
      events: this.rotationEvents,
      onEndpointChange: this.forgetBrokeredEndpoint,
    });
    return this.rotationInstance;
  }

  /** The token broker, over the same endpoint registry. */
  get broker(): BrokerModule {
    this.brokerInstance ??= createBrokerModule(this.root, { endpoints: this.rotation.registry });
    return this.brokerInstance;
  }

  /** Event Grid reactions. */
  get events(): EventsModule {
    this.eventsInstance ??= createEventsModule(this.root, {
      rotation: this.rotation,
      sink: this.rotationEvents,
      onKeyReplaced: this.forgetBrokeredEndpoint,
    });
    return this.eventsInstance;
  }

  /**
   * Reads and validates `ENDPOINTS_FILE` (when set), so that a bad file stops the app at start-up naming
   * each bad entry and field, as a bad setting does, rather than failing its first endpoint lookup. The
   * registry reads the file again when first used; this builds nothing.
   */
  async checkEndpointsFile(): Promise<void> {
    await readEndpointsFile({
      path: this.config.rotation.endpointsFile,
      rules: endpointRulesOf(this.config),
      now: () => isoNow(this.clock),
    });
  }

  /**
   * Finishes the background work of what this process built: the audit decisions the broker still
   * buffers (written about once a second) or holds for another try, then the telemetry the exporters
   * still batch. Builds nothing.
   */
  async close(): Promise<void> {
    await this.brokerInstance?.audit.close();
    await this.telemetryInstance?.flush();
  }

  /** Dependency checks behind `GET /api/health`. */
  get health(): HealthCheck {
    this.healthInstance ??= new HealthCheck({ probes: dependencyProbes(this.clients, this.config) });
    return this.healthInstance;
  }
}

let current: Services | undefined;

/** Returns the process-wide services, building them (and validating configuration) on first use. */
export function getServices(): Services {
  current ??= new Services(loadConfig());
  return current;
}

/**
 * What an admin function resolves: a module's admin service, and the public base URL the links it answers
 * are built on (`ADMIN_PUBLIC_BASE_URL`).
 */
export interface AdminRoutes<M extends 'rotation' | 'broker'> {
  readonly admin: Services[M]['admin'];
  readonly publicBaseUrl?: string;
}

/** The process-wide {@link AdminRoutes} of a module. */
export function adminRoutes<M extends 'rotation' | 'broker'>(module: M): AdminRoutes<M> {
  const services = getServices();
  return { admin: services[module].admin, ...services.config.admin };
}

/** Closes the process-wide services if this process built them ({@link Services.close}). */
export async function closeServices(): Promise<void> {
  await current?.close();
}
