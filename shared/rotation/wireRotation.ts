import { type Clock, realRepeat, type Repeat, type Sleep } from '../clock';
import type { EndpointRegistry } from '../endpoints/EndpointRegistry';
import type { EndpointRules } from '../endpoints/validateEndpoint';
import { createLogger, type LogSink } from '../logging';
import type { PoisonQueue } from '../queueMessage';
import type { Telemetry } from '../telemetry';
import { DriftDetector } from './DriftDetector';
import { EndpointAdminService, type RegistrationCheck } from './EndpointAdminService';
import type { EndpointKeyClient } from './EndpointKeyClient';
import { generateKeyValue } from './generateKeyValue';
import { KeyRotator } from './KeyRotator';
import type { RotationEventSink } from './RotationEventSink';
import type { RotationJobQueue } from './RotationJob';
import { RotationJobHandler } from './RotationJobHandler';
import type { RotationJournal } from './RotationJournal';
import { RotationRecorder } from './RotationRecorder';
import { RotationScheduler } from './RotationScheduler';
import { RotationSteps } from './RotationSteps';
import type { ScoringProbe } from './ScoringProbe';
import type { SecretStore } from './SecretStore';

/** The ports rotation runs on: SDK adapters in production, in-memory fakes in unit tests. */
export interface RotationPorts {
  registry: EndpointRegistry;
  secrets: SecretStore;
  keys: EndpointKeyClient;
  probe: ScoringProbe;
  journal: RotationJournal;
  jobs: RotationJobQueue;
  /** `<ROTATION_QUEUE>-poison`, for messages on the job queue that are not jobs. */
  poison: PoisonQueue;
  events: RotationEventSink;
  telemetry: Telemetry;
  clock: Clock;
  sleep: Sleep;
  /** @default realRepeat */
  repeat?: Repeat;
  /** Where log lines go. @default the console */
  logSink?: LogSink;
  /** @default generateKeyValue */
  generateKey?: () => string;
  newId?: () => string;
  /** Told an endpoint's id after the admin service wrote it (the broker drops what it cached). */
  onEndpointChange?: (endpointId: string) => void;
  /** Reads a registration's endpoint at Azure before it is written (`AzureEndpointCheck`); omitted: not read. */
  registrationCheck?: RegistrationCheck;
}

/** Numbers from `AppConfig.rotation`. */
export interface RotationSettings {
  readonly leaseSeconds: number;
  readonly testTimeoutSeconds: number;
  /** The host's functionTimeout when an app setting overrides host.json's (`AppConfig.rotation`). */
  readonly functionTimeoutMs?: number;
  readonly rules: EndpointRules;
}

/** The services the rotation module offers, built over ports (`RotationModule`). */
export interface RotationServices {
  readonly registry: EndpointRegistry;
  readonly admin: EndpointAdminService;
  readonly jobs: RotationJobQueue;
  readonly rotator: KeyRotator;
  readonly scheduler: RotationScheduler;
  readonly drift: DriftDetector;
  readonly secrets: SecretStore;
  /** The journal (status history, tests). */
  readonly journal: RotationJournal;
  /** Queue message → rotation run, with the poison record on the last delivery (the queue-triggered function). */
  readonly worker: RotationJobHandler;
}

/**
 * Wires the rotation domain over a set of ports (no SDK here, so tests use the very same wiring).
 * @example const rotation = wireRotation(fakePorts, { leaseSeconds: 600, testTimeoutSeconds: 300, rules })
 */
export function wireRotation(ports: RotationPorts, settings: RotationSettings): RotationServices {
  const { registry, secrets, keys, probe, journal, jobs, events, telemetry, clock, sleep } = ports;
  const logger = (component: string) => createLogger(component, ports.logSink);
  const steps = new RotationSteps({
    secrets,
    keys,
    probe,
    clock,
    sleep,
    logger: logger('RotationSteps'),
    generateKey: ports.generateKey ?? generateKeyValue,
    testTimeoutMs: settings.testTimeoutSeconds * 1000,
    leaseMs: settings.leaseSeconds * 1000,
  });
  // The recorder writes a run's outcome lines (`rotate => started`, `rotate => failed`); under the
  // rotator's name they read as one story with its own (`rotate => deferred`), as operations.md has them.
  const recorder = new RotationRecorder({ journal, events, telemetry, clock, logger: logger('KeyRotator') });
  const rotator = new KeyRotator({
    registry,
    secrets,
    keys,
    journal,
    steps,
    recorder,
    clock,
    repeat: ports.repeat ?? realRepeat,
    logger: logger('KeyRotator'),
    leaseSeconds: settings.leaseSeconds,
    ...(settings.functionTimeoutMs !== undefined ? { functionTimeoutMs: settings.functionTimeoutMs } : {}),
    ...(ports.newId ? { newId: ports.newId } : {}),
  });
  return {
    registry,
    jobs,
    secrets,
    journal,
    rotator,
    worker: new RotationJobHandler({
      rotator,
      journal,
      recorder,
      jobs,
      poison: ports.poison,
      clock,
      logger: logger('RotationWorker'),
    }),
    scheduler: new RotationScheduler({ registry, journal, jobs, clock, logger: logger('RotationScheduler') }),
    drift: new DriftDetector({ registry, secrets, keys, journal, clock, logger: logger('DriftDetector') }),
    admin: new EndpointAdminService({
      registry,
      journal,
      secrets,
      jobs,
      keys,
      clock,
      rules: settings.rules,
      ...(ports.registrationCheck ? { check: ports.registrationCheck } : {}),
      ...(ports.onEndpointChange ? { onChange: ports.onEndpointChange } : {}),
    }),
  };
}
