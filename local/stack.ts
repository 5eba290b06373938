import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { startAzurite } from './azurite';
import { ensureLocalCertificate } from './certs';
import { startEmulators } from './emulators';
import { startEventGridTopic } from './eventGridTopic';
import { type SpawnedFunctionsHost, spawnFunctionsHost } from './host/childProcess';

/** How the local stack is laid out; every port may be 0 (pick a free one). */
export interface LocalStackOptions {
  /** Repository root: where `dist/`, `host.json` and `.local/` live. */
  readonly root: string;
  readonly functionsPort: number;
  readonly emulatorPort: number;
  /** Settings given to the Functions host on top of the stack's own (e.g. a faster schedule in tests). */
  readonly settings?: Readonly<Record<string, string>>;
  readonly log?: (line: string) => void;
  /** Receives the Functions host's output as it arrives. */
  readonly onHostOutput?: (chunk: string) => void;
  /** Node options for the Functions host process (e.g. `--cpu-prof` when profiling a benchmark). */
  readonly hostNodeArgs?: readonly string[];
  /**
   * Started from a terminal (`npm start`): Ctrl-C reaches the Functions host, not Azurite, so the host's
   * shutdown hook still writes the last audit decisions before `stop()` ends Azurite. Tests leave this
   * off, so a test run stopped with Ctrl-C takes its Azurite down with it.
   */
  readonly interactive?: boolean;
}

/** A running local stack and what a client needs to talk to it. */
export interface LocalStack {
  /** `http://127.0.0.1:<port>`; functions are under `/api`. */
  readonly functionsUrl: string;
  readonly emulatorUrl: string;
  readonly masterKey: string;
  readonly defaultKey: string;
  readonly storageConnectionString: string;
  /** The certificate the stand-ins serve, which clients trust through `NODE_EXTRA_CA_CERTS`. */
  readonly caCertificatePath: string;
  /** The Azurite process (tests pause it with SIGSTOP: storage that stops answering). */
  readonly storagePid: number | undefined;
  readonly emulators: Awaited<ReturnType<typeof startEmulators>>;
  readonly topic: Awaited<ReturnType<typeof startEventGridTopic>>;
  /** The Functions host started with the stack (tests may kill it to simulate a crash). */
  readonly host: SpawnedFunctionsHost;
  /** Everything the Functions host printed so far (for secret scans in tests). */
  hostOutput(): string;
  /**
   * Starts one more Functions host process on a free port with the same settings and keys, sharing
   * Azurite and the stand-ins (scale-out: several instances on one storage account; or a cold start
   * timed against an already running stack), with `settings` on top. Stopped by `stop()` at the latest.
   */
  spawnHost(options?: {
    readonly onOutput?: (chunk: string) => void;
    readonly settings?: Readonly<Record<string, string>>;
  }): Promise<SpawnedFunctionsHost>;
  stop(): Promise<void>;
}

/**
 * Demo-speed rotation: a key is rotated every 3 minutes and the retired slot is left alone for 72
 * seconds, so `npm start` shows whole rotations within minutes. Real defaults are 720 h and 25 h.
 * A brokered key is guaranteed for the grace period only, so the minimum lifetime the broker insists
 * on (300 s by default) comes down with it, or the demo Key endpoint's key could never be handed out.
 */
export const DEMO_SETTINGS: Readonly<Record<string, string>> = {
  ROTATION_SCHEDULE: '*/20 * * * * *',
  ROTATION_PERIOD_HOURS: '0.05',
  ROTATION_GRACE_HOURS: '0.02',
  ROTATION_MIN_GRACE_HOURS: '0.01',
  ROTATION_TEST_TIMEOUT_SECONDS: '60',
  BROKER_MIN_TOKEN_LIFETIME_SECONDS: '30',
};

/**
 * Starts Azurite, the HTTPS stand-ins for Azure, a stand-in Event Grid topic and the local Functions
 * host running the compiled `functions/` unchanged, wired together exactly as the app would be wired
 * to real Azure: only settings differ. Shared by `npm start` and the end-to-end tests.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => undefined);
  const cert = await ensureLocalCertificate(join(options.root, '.local', 'certs'));
  const stoppers: Array<() => Promise<void>> = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stoppers.reverse()) await stop().catch(() => undefined);
  };
  try {
    const azurite = await startAzurite({
      log: (line) => log(`[azurite] ${line}`),
      ownProcessGroup: options.interactive ?? false,
    });
    stoppers.push(() => azurite.stop());
    const emulators = await startEmulators({
      port: options.emulatorPort,
      certPath: cert.certPath,
      keyPath: cert.keyPath,
      log: (line) => log(`[emulators] ${line}`),
    });
    stoppers.push(() => emulators.stop());

    const masterKey = randomBytes(24).toString('base64url');
    const defaultKey = randomBytes(24).toString('base64url');
    // As infra/ deploys it: local auth disabled, the app publishes with its managed identity.
    const topic = await startEventGridTopic({
      certPath: cert.certPath,
      keyPath: cert.keyPath,
      checkToken: emulators.checkToken,
    });
    stoppers.push(() => topic.stop());

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_EXTRA_CA_CERTS: cert.certPath,
      AzureWebJobsStorage: azurite.connectionString,
      KEY_VAULT_URL: emulators.url,
      KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
      ARM_ENDPOINT: emulators.url,
      // The v1 model-management stand-in plays each region's host under /mms/{region}.
      V1_MMS_HOST_TEMPLATE: `${emulators.url}/mms/{region}`,
      IDENTITY_ENDPOINT: emulators.identityEndpoint,
      IDENTITY_HEADER: emulators.identityHeader,
      // Only the managed identity: a developer's Azure CLI login must never be picked up locally.
      AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential',
      MSI_ENDPOINT: '',
      MSI_SECRET: '',
      BROKER_SECRET_PEPPER: randomBytes(32).toString('base64url'),
      EVENT_GRID_TOPIC_ENDPOINT: topic.endpoint,
      // Empty, as in Azure (and whatever the shell holds): the managed identity publishes.
      EVENT_GRID_TOPIC_KEY: '',
      // Binding expressions (%ROTATION_QUEUE%) are resolved by the host from app settings, where
      // config defaults do not apply, so these must always be set (the Bicep sets them too).
      ROTATION_QUEUE: 'rotation-jobs',
      EVENTS_RETRY_QUEUE: 'event-publish-retries',
      ...DEMO_SETTINGS,
      ...options.settings,
    };
    const spawnHost = async (
      extra: { onOutput?: (chunk: string) => void; settings?: Readonly<Record<string, string>> },
      port = 0,
    ): Promise<SpawnedFunctionsHost> => {
      const spawned = await spawnFunctionsHost({
        env: { ...env, ...extra.settings },
        port,
        masterKey,
        defaultKey,
        cwd: options.root,
        ...(extra.onOutput ? { onOutput: extra.onOutput } : {}),
        ...(options.hostNodeArgs ? { nodeArgs: options.hostNodeArgs } : {}),
      });
      stoppers.push(() => spawned.stop());
      return spawned;
    };
    const host = await spawnHost(
      options.onHostOutput ? { onOutput: options.onHostOutput } : {},
      options.functionsPort,
    );

    return {
      functionsUrl: host.url,
      emulatorUrl: emulators.url,
      masterKey,
      defaultKey,
      storageConnectionString: azurite.connectionString,
      caCertificatePath: cert.certPath,
      storagePid: azurite.pid,
      emulators,
      topic,
      host,
      hostOutput: () => host.output(),
      spawnHost: (extra) => spawnHost(extra ?? {}),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
