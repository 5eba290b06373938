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
}

/** A running local stack and what a client needs to talk to it. */
export interface LocalStack {
  /** `http://127.0.0.1:<port>`; functions are under `/api`. */
  readonly functionsUrl: string;
  /** Process id of the Functions host. */
  readonly functionsPid: number | undefined;
  readonly emulatorUrl: string;
  readonly masterKey: string;
  readonly defaultKey: string;
  readonly storageConnectionString: string;
  readonly emulators: Awaited<ReturnType<typeof startEmulators>>;
  readonly topic: Awaited<ReturnType<typeof startEventGridTopic>>;
  /** Everything the Functions host printed so far (for secret scans in tests). */
  hostOutput(): string;
  /**
   * Starts one more Functions host process on a free port, wired exactly like the first (same
   * storage, stand-ins, keys and pepper; `settings` on top), e.g. to time a cold start against an
   * already running stack. It is stopped with the stack if the caller has not stopped it before.
   */
  spawnHost(settings?: Readonly<Record<string, string>>): Promise<SpawnedFunctionsHost>;
  stop(): Promise<void>;
}

/**
 * Demo-speed rotation: a key is rotated every 3 minutes and the retired slot is left alone for 72
 * seconds, so `npm start` shows whole rotations within minutes. Real defaults are 720 h and 25 h.
 */
export const DEMO_SETTINGS: Readonly<Record<string, string>> = {
  ROTATION_SCHEDULE: '*/20 * * * * *',
  ROTATION_PERIOD_HOURS: '0.05',
  ROTATION_GRACE_HOURS: '0.02',
  ROTATION_MIN_GRACE_HOURS: '0.01',
  ROTATION_TEST_TIMEOUT_SECONDS: '60',
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
    const azurite = await startAzurite({ log: (line) => log(`[azurite] ${line}`) });
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
    const topicKey = randomBytes(32).toString('base64');
    const topic = await startEventGridTopic({
      certPath: cert.certPath,
      keyPath: cert.keyPath,
      key: topicKey,
    });
    stoppers.push(() => topic.stop());

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_EXTRA_CA_CERTS: cert.certPath,
      AzureWebJobsStorage: azurite.connectionString,
      KEY_VAULT_URL: emulators.url,
      KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
      ARM_ENDPOINT: emulators.url,
      IDENTITY_ENDPOINT: emulators.identityEndpoint,
      IDENTITY_HEADER: emulators.identityHeader,
      // Only the managed identity: a developer's Azure CLI login must never be picked up locally.
      AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential',
      MSI_ENDPOINT: '',
      MSI_SECRET: '',
      BROKER_SECRET_PEPPER: randomBytes(32).toString('base64url'),
      EVENT_GRID_TOPIC_ENDPOINT: topic.endpoint,
      EVENT_GRID_TOPIC_KEY: topicKey,
      // Binding expressions (%ROTATION_QUEUE%) are resolved by the host from app settings, where
      // config defaults do not apply, so these two must always be set (the Bicep sets them too).
      ROTATION_QUEUE: 'rotation-jobs',
      ...DEMO_SETTINGS,
      ...options.settings,
    };
    const host = await spawnFunctionsHost({
      env,
      port: options.functionsPort,
      masterKey,
      defaultKey,
      cwd: options.root,
      ...(options.onHostOutput ? { onOutput: options.onHostOutput } : {}),
      ...(options.hostNodeArgs ? { nodeArgs: options.hostNodeArgs } : {}),
    });
    stoppers.push(() => host.stop());
    topic.forwardTo(`${host.url}/api/events?code=${encodeURIComponent(defaultKey)}`);

    return {
      functionsUrl: host.url,
      functionsPid: host.pid,
      emulatorUrl: emulators.url,
      masterKey,
      defaultKey,
      storageConnectionString: azurite.connectionString,
      emulators,
      topic,
      hostOutput: () => host.output(),
      spawnHost: async (settings) => {
        const extra = await spawnFunctionsHost({
          env: { ...env, ...settings },
          port: 0,
          masterKey,
          defaultKey,
          cwd: options.root,
        });
        stoppers.push(() => extra.stop());
        return extra;
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
