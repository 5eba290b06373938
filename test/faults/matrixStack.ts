import { join } from 'node:path';

import { call } from '../../local/demo';
import type { SpawnedFunctionsHost } from '../../local/host/childProcess';
import { type LocalStack, startLocalStack } from '../../local/stack';
import { useEmulatorIdentity } from '../support/emulators';
import { type ProbeClient, standInVaultClient, startProbeClient } from '../support/probeClient';
import { addKeyEndpoint, type RegisteredKeyEndpoint } from '../support/stackEndpoints';
import { StandInLog } from '../support/standInLog';
import { journalReader } from '../support/storageTables';
import { waitFor } from '../support/waitFor';
import { type BrokerClient, startBrokerClient } from './brokerClient';

/**
 * Demo-speed settings for the matrix: a rotation every 36 s per periodic endpoint (the shortest period
 * allowed), a 14.4 s grace, a 10 s lease (the shortest allowed: how long a killed run blocks its
 * endpoint), the timer every 3 s.
 */
export const MATRIX_SETTINGS = {
  ROTATION_SCHEDULE: '*/3 * * * * *',
  ROTATION_PERIOD_HOURS: '0.01',
  ROTATION_GRACE_HOURS: '0.004',
  ROTATION_MIN_GRACE_HOURS: '0.001',
  ROTATION_LEASE_SECONDS: '10',
  ROTATION_TEST_TIMEOUT_SECONDS: '60',
  BROKER_MIN_TOKEN_LIFETIME_SECONDS: '5',
} as const;
export const PERIOD_MS = 36_000;
export const MIN_TOKEN_LIFETIME_MS = 5_000;
/** AML endpoint tokens live 30 s (refresh hint at 15 s), so ARM outages reach the broker's cache. */
const ENDPOINT_TOKEN_LIFETIME_SECONDS = 30;
const WS = {
  subscriptionId: '00000000-0000-0000-0000-0000000000f1',
  resourceGroup: 'rg-fm',
  workspace: 'ws-fm',
};
/** The probe re-reads Key Vault every 2 s: well inside the 3.6-14.4 s grace, as 24 h is inside 25 h. */
const PROBE_REFRESH_MS = 2_000;

/** Everything the fault matrix runs against. */
export interface MatrixStack {
  readonly stack: LocalStack;
  readonly standIns: StandInLog;
  readonly journal: ReturnType<typeof journalReader>;
  /** Rotated on the schedule (period 36 s). */
  readonly periodic: readonly RegisteredKeyEndpoint[];
  /** Rotated only when asked (period 1 h, grace 3.6 s): the crash cases drive it. */
  readonly crash: RegisteredKeyEndpoint;
  /** Rotated only by events (period 1 h, grace 36 s: a second job for the same event is in grace). */
  readonly events: RegisteredKeyEndpoint;
  readonly probes: ReadonlyMap<string, ProbeClient>;
  readonly broker: BrokerClient;
  readonly brokerSecrets: readonly string[];
  /** Hosts serving now (the broker client spreads over them); `everHosts` includes killed ones. */
  readonly live: SpawnedFunctionsHost[];
  readonly everHosts: SpawnedFunctionsHost[];
  spawnHost(): Promise<SpawnedFunctionsHost>;
  /** SIGKILL: the process dies mid-flight, no shutdown code runs. */
  killHost(host: SpawnedFunctionsHost): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the stack with two hosts, six Key endpoints (onboarded), a token endpoint, probes and a broker client. */
export async function startMatrixStack(): Promise<MatrixStack> {
  const root = join(__dirname, '..', '..');
  const standIns = new StandInLog();
  const stack = await startLocalStack({
    root,
    functionsPort: 0,
    emulatorPort: 0,
    log: standIns.sink,
    settings: MATRIX_SETTINGS,
  });
  const restoreEnv = useEmulatorIdentity(stack.emulators);
  try {
    return await populate(stack, standIns, restoreEnv);
  } catch (error) {
    restoreEnv();
    await stack.stop();
    throw error;
  }
}

async function populate(
  stack: LocalStack,
  standIns: StandInLog,
  restoreEnv: () => void,
): Promise<MatrixStack> {
  const { control } = stack.emulators;
  control.addWorkspace(WS);
  control.setRegenerateDelayMs(100);
  control.setEndpointTokenLifetimeSeconds(ENDPOINT_TOKEN_LIFETIME_SECONDS);
  const live = [stack.host];
  const everHosts = [stack.host];
  const spawnHost = async (): Promise<SpawnedFunctionsHost> => {
    const host = await stack.spawnHost();
    live.push(host);
    everHosts.push(host);
    return host;
  };
  await spawnHost();

  const periodic = [];
  for (const name of ['fm-p1', 'fm-p2', 'fm-p3', 'fm-p4'])
    periodic.push(await addKeyEndpoint(stack, WS, name));
  const crash = await addKeyEndpoint(stack, WS, 'fm-crash', {
    rotationPeriodHours: 1,
    gracePeriodHours: 0.001,
  });
  const events = await addKeyEndpoint(stack, WS, 'fm-events', {
    rotationPeriodHours: 1,
    gracePeriodHours: 0.01,
  });
  control.addOnlineEndpoint({ ...WS, name: 'fm-token', authMode: 'AMLToken' });
  await call(stack, 'POST', 'manage/endpoints', {
    id: 'fm-token',
    arm: { ...WS, name: 'fm-token' },
    authMode: 'AMLToken',
    secretName: 'fm-token-key',
  });
  const created = (await call(stack, 'POST', 'manage/clients', {
    id: 'fm-legacy',
    displayName: 'Fault matrix legacy client',
    allowedScopes: ['fm-token'],
    rateLimitPerMinute: 6000,
  })) as { client: { id: string }; primarySecret: string; secondarySecret: string };

  // The timer onboards every endpoint (never rotated = due): Primary published, Secondary rotated, and
  // the rotation journaled as finished (the secret is written a step before that), so that no case
  // starts while an onboarding rotation is still active.
  const rotating = [...periodic, crash, events];
  const journal = journalReader(stack.storageConnectionString);
  const onboarded = async (e: RegisteredKeyEndpoint): Promise<boolean> =>
    control.secretVersions(e.secretName).length >= 2 && !(await journal.state(e.id)).active;
  await waitFor(
    'every Key endpoint onboarded',
    async () => (await Promise.all(rotating.map(onboarded))).every(Boolean),
    { timeoutMs: 120_000, intervalMs: 500, describe: () => stack.hostOutput().slice(-4000) },
  );
  const vault = standInVaultClient(stack.emulators.url);
  const probes = new Map(
    rotating.map((e) => [
      e.id,
      startProbeClient({
        vault,
        secretName: e.secretName,
        scoringUri: e.scoringUri,
        refreshEveryMs: PROBE_REFRESH_MS,
        pauseMs: 50,
      }),
    ]),
  );
  const broker = startBrokerClient({
    hosts: () => live.map((h) => h.url),
    clientId: created.client.id,
    clientSecret: created.primarySecret,
    scope: 'fm-token',
  });
  return {
    stack,
    standIns,
    journal,
    periodic,
    crash,
    events,
    probes,
    broker,
    brokerSecrets: [created.primarySecret, created.secondarySecret],
    live,
    everHosts,
    spawnHost,
    killHost: async (host) => {
      if (live.includes(host)) live.splice(live.indexOf(host), 1);
      await host.kill();
    },
    stop: async () => {
      await Promise.all([broker.stop(), ...[...probes.values()].map((p) => p.stop())]);
      restoreEnv();
      await stack.stop();
    },
  };
}
