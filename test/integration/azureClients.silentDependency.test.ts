import { createPipelineRequest } from '@azure/core-rest-pipeline';

import { azuriteConnectionString } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { AzureClients } from '../../shared/azureClients';
import { TableBatchInserts } from '../../shared/broker/TableBatchInserts';
import { systemClock } from '../../shared/clock';
import { loadConfig } from '../../shared/config';
import { createRotationEventSink } from '../../shared/events/module';
import { isTransientError } from '../../shared/retry';
import type { ModuleRoot } from '../../shared/services';
import { StorageJsonQueue } from '../../shared/StorageJsonQueue';
import { CapturingTelemetry } from '../fakes/capture';
import { useEmulatorIdentity, withEmulators } from '../support/emulators';
import { failureOf, SilentServer } from '../support/SilentServer';
import { waitFor } from '../support/waitFor';

const TRY_TIME_LIMIT_MS = 400;

/**
 * Every Azure client the app builds gives up a try that hears nothing for `tryTimeLimitMs`, and closes
 * its connection: the SDKs set no limit, so without one a silent dependency keeps each request, and its
 * socket, open for good. Each case points one client at a server that accepts connections and never
 * answers, and checks the call fails in time with an error callers count as transient, and that the
 * server sees every connection closed again. Calls that need a token get it from the identity stand-in.
 */
describe('Azure clients facing a dependency that does not answer', () => {
  let silent: SilentServer;
  let emulators: RunningEmulators;
  let restoreEnv: () => void = () => undefined;
  let clients: AzureClients;
  let root: ModuleRoot;

  beforeAll(async () => {
    [silent, emulators] = await Promise.all([SilentServer.start(), withEmulators()]);
    restoreEnv = useEmulatorIdentity(emulators);
    const at = `127.0.0.1:${silent.port}`;
    const config = loadConfig({
      AzureWebJobsStorage: azuriteConnectionString({
        blob: silent.port,
        queue: silent.port,
        table: silent.port,
      }),
      KEY_VAULT_URL: `https://${at}/`,
      KEY_VAULT_DISABLE_CHALLENGE_RESOURCE_VERIFICATION: 'true',
      ARM_ENDPOINT: `https://${at}`,
      BROKER_SECRET_PEPPER: 'p'.repeat(40),
      EVENT_GRID_TOPIC_ENDPOINT: `https://${at}/api/events`,
      EVENT_GRID_TOPIC_KEY: 'dG9waWMta2V5',
    });
    clients = new AzureClients(config, { tryTimeLimitMs: TRY_TIME_LIMIT_MS });
    root = { config, clients, telemetry: new CapturingTelemetry(), clock: systemClock };
  });

  afterAll(async () => {
    restoreEnv();
    await Promise.all([silent?.stop(), emulators?.stop()]);
  });

  async function expectGivenUpAndClosed(call: () => Promise<unknown>, maxMs: number): Promise<void> {
    const before = silent.connections().accepted;
    const { error, ms } = await failureOf(call);
    expect(isTransientError(error)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(TRY_TIME_LIMIT_MS - 50);
    expect(ms).toBeLessThan(maxMs);
    expect(silent.connections().accepted).toBeGreaterThan(before);
    await waitFor('every connection closed', () => silent.connections().open === 0, { timeoutMs: 2000 });
  }

  it('Table storage: a read', async () => {
    await expectGivenUpAndClosed(
      () => clients.table('silentread').getEntity('p', 'r'),
      10 * TRY_TIME_LIMIT_MS,
    );
  });

  it('Table storage: an audit batch, sent through the table client pipeline', async () => {
    const inserts = new TableBatchInserts(clients.table('silentaudit'), clients.httpClient);
    const row = { partitionKey: 'p', rowKey: 'r', clientId: 'c' } as unknown as Parameters<
      TableBatchInserts['submitTransaction']
    >[0][number][1];
    await expectGivenUpAndClosed(() => inserts.submitTransaction([['create', row]]), 10 * TRY_TIME_LIMIT_MS);
  });

  it('Key Vault: reading a secret', async () => {
    await expectGivenUpAndClosed(() => clients.secrets.getSecret('silent'), 10 * TRY_TIME_LIMIT_MS);
  });

  it('Azure ML (ARM): an endpoint token', async () => {
    const endpoints = clients.machineLearning('00000000-0000-0000-0000-000000000001').onlineEndpoints;
    await expectGivenUpAndClosed(() => endpoints.getToken('rg', 'ws', 'ep'), 10 * TRY_TIME_LIMIT_MS);
  });

  it('Azure ML v1 model management', async () => {
    const request = createPipelineRequest({ url: `https://127.0.0.1:${silent.port}/mms/x`, method: 'GET' });
    await expectGivenUpAndClosed(() => clients.modelManagement.sendRequest(request), 10 * TRY_TIME_LIMIT_MS);
  });

  it('Storage queue: sending a message (its SDK has its own transport; each call has the limit)', async () => {
    const queue = new StorageJsonQueue<{ n: number }>({
      client: clients.queue('silent-queue'),
      sleep: () => Promise.resolve(),
      tryTimeLimitMs: clients.tryTimeLimitMs,
    });
    await expectGivenUpAndClosed(() => queue.enqueue({ n: 1 }), 10 * TRY_TIME_LIMIT_MS);
  });

  it('Storage queue: a send its caller gives up ends then, with the reason it was given, its connection closed', async () => {
    // Prepare: the caller gives up well before the try's own limit
    const queue = new StorageJsonQueue<{ n: number }>({
      client: clients.queue('silent-queue-given-up'),
      sleep: () => Promise.resolve(),
      tryTimeLimitMs: clients.tryTimeLimitMs,
    });
    const giveUp = new AbortController();
    const reason = new Error('given up');
    setTimeout(() => giveUp.abort(reason), 100);

    // Act
    const { error, ms } = await failureOf(() => queue.enqueue({ n: 1 }, { abortSignal: giveUp.signal }));

    // Assess
    expect(error).toBe(reason);
    expect(ms).toBeLessThan(TRY_TIME_LIMIT_MS - 100);
    await waitFor('every connection closed', () => silent.connections().open === 0, { timeoutMs: 2000 });
  });

  it('Event Grid: publishing a rotation event, then holding it on the retry queue', async () => {
    // Prepare
    const sink = createRotationEventSink(root);
    const before = silent.connections().accepted;

    // Act
    const started = Date.now();
    await sink.publish({
      type: 'KeyRotated',
      endpointId: 'silent-ep',
      secretName: 'silent-ep-key',
      slot: 'Secondary',
      secretVersion: 'v2',
      rotationId: 'r-1',
      time: '2026-12-07T02:00:00.000Z',
    });

    // Assess: both the topic and the queue were tried, each given up; the event is reported lost.
    expect(Date.now() - started).toBeLessThan(10 * TRY_TIME_LIMIT_MS);
    expect(silent.connections().accepted).toBeGreaterThanOrEqual(before + 2);
    await waitFor('every connection closed', () => silent.connections().open === 0, { timeoutMs: 2000 });
  });
});
