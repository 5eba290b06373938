import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { AzureClients } from '../../shared/azureClients';
import { type BrokerModule, createBrokerModule } from '../../shared/broker/module';
import { resolveV1TokenScope } from '../../shared/broker/resolveV1Scope';
import { V1ServiceTokenSource } from '../../shared/broker/V1ServiceTokenSource';
import { realSleep } from '../../shared/clock';
import { loadConfig } from '../../shared/config';
import type { ModuleRoot } from '../../shared/services';
import { ModelManagementClient } from '../../shared/v1/ModelManagementClient';
import { type TestClient, testClientOf } from '../fakes/broker/buildTestBroker';
import { InMemoryEndpointLookup, testEndpoint } from '../fakes/broker/InMemoryEndpointLookup';
import { runMsiClient, runOAuthClient } from '../fakes/broker/offTheShelfClients';
import { serveBroker, type ServedBroker } from '../fakes/broker/serveBroker';
import { CapturingTelemetry } from '../fakes/capture';
import { FakeClock } from '../fakes/FakeClock';
import {
  INTEGRATION_PEPPER,
  standInSettings,
  useEmulatorIdentity,
  withEmulators,
} from '../support/emulators';
import { basicAuth } from '../support/httpParts';
import { timersLeftBy } from '../support/pendingTimers';
import { sleep } from '../support/waitFor';

/**
 * The broker vending Azure ML SDK v1 AKS service tokens with its real adapters (DefaultAzureCredential
 * → managed identity stand-in, the MMS pipeline to `{emulator}/mms/{region}`, Tables on Azurite),
 * served over HTTP like the Functions host, and called by off-the-shelf clients.
 */
const WS = {
  subscriptionId: '00000000-0000-0000-0000-0000000000v2',
  resourceGroup: 'rg-v1b',
  workspace: 'ws-v1b',
};
const REGION = 'westus2';

jest.setTimeout(90_000);

describe('v1 service tokens through the broker on the local stack', () => {
  let emulators: RunningEmulators;
  let azurite: RunningAzurite;
  let module: BrokerModule;
  let clients: AzureClients;
  let config: ReturnType<typeof loadConfig>;
  let served: ServedBroker;
  let clock: FakeClock;
  let scoringUri: string;
  let client: TestClient;
  const telemetry = new CapturingTelemetry();
  const logs: string[] = [];
  let restoreEnv: () => void = () => undefined;

  const v1 = (name: string, computeType: 'AKS' | 'ACI') =>
    testEndpoint(name, 'AMLToken', {
      kind: 'v1WebService',
      arm: { ...WS, name },
      v1: { computeType, region: REGION },
    });

  beforeAll(async () => {
    [emulators, azurite] = await Promise.all([withEmulators(), startAzurite()]);
    restoreEnv = useEmulatorIdentity(emulators);
    emulators.control.addWorkspace({ ...WS, location: REGION });
    ({ scoringUri } = emulators.control.addV1Service({
      ...WS,
      name: 'aks-token',
      computeType: 'AKS',
      authEnabled: false,
      tokenAuthEnabled: true,
    }));
    emulators.control.addV1Service({ ...WS, name: 'aks-keyonly', computeType: 'AKS' });
    config = loadConfig({
      ...standInSettings(emulators, azurite, 'v1b'),
      V1_MMS_HOST_TEMPLATE: `${emulators.url}/mms/{region}`,
    });
    clock = new FakeClock(Date.now());
    clients = new AzureClients(config);
    const root: ModuleRoot = { config, clients, telemetry, clock };
    const endpoints = new InMemoryEndpointLookup();
    endpoints.add(v1('aks-token', 'AKS'));
    endpoints.add(v1('aks-keyonly', 'AKS'));
    module = createBrokerModule(root, {
      endpoints,
      logSink: (level, line) => void logs.push(`${level} ${line}`),
    });
    served = await serveBroker(module);
    const created = await module.admin.create({
      id: 'v1-client',
      displayName: 'Legacy v1 client',
      allowedScopes: ['aks-token', 'aks-keyonly'],
    });
    client = testClientOf(created);
  });

  afterAll(async () => {
    await module?.audit.close();
    await served?.close();
    await Promise.all([emulators?.stop(), azurite?.stop()]);
    restoreEnv();
  });

  afterEach(() => emulators.control.clearFaults());

  const amlShape = () =>
    fetch(`${served.url}/api/endpoints/aks-token/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(client.id, client.primary) },
    });
  const score = (token: string) =>
    fetch(scoringUri, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"data":[[1,2]]}',
    });

  it('200 concurrent cold requests make one service read and one token call', async () => {
    // Prepare
    emulators.control.resetCounters();
    // Act
    const replies = await Promise.all(Array.from({ length: 200 }, () => amlShape()));
    const bodies = await Promise.all(replies.map((r) => r.json() as Promise<Record<string, unknown>>));
    // Assess
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(new Set(bodies.map((b) => b['accessToken'])).size).toBe(1);
    expect(emulators.control.counters()['mms.token']).toBe(1);
    expect(emulators.control.counters()['mms.get']).toBe(1);
  });

  it('serves the token through all three protocols, and each one scores the v1 scoring URI', async () => {
    // Act
    const oauth = await runOAuthClient(served.url, 'basic', client.id, client.primary, 'aks-token');
    const msi = await runMsiClient(
      { IDENTITY_ENDPOINT: `${served.url}/api/msi/token`, IDENTITY_HEADER: client.secondary },
      'aks-token/.default',
      client.id,
    );
    const aml = (await (await amlShape()).json()) as Record<string, unknown>;
    const tokens = [
      oauth.token?.access_token ?? '',
      msi.tokens?.[0]?.token ?? '',
      String(aml['accessToken']),
    ];
    const scored = await Promise.all(tokens.map((t) => score(t)));
    // Assess
    expect(oauth.ok).toBe(true);
    expect(msi.ok).toBe(true);
    expect(aml).toMatchObject({ tokenType: 'Bearer' });
    expect(new Set(tokens).size).toBe(1);
    expect(scored.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await (await score('not-a-token')).text()).toContain('Unauthorized');
  });

  it('refuses a token for an AKS service whose token auth is off, with a 4xx naming the v1 rule', async () => {
    // Act
    const oauth = await runOAuthClient(served.url, 'post', client.id, client.primary, 'aks-keyonly');
    const aml = await fetch(`${served.url}/api/endpoints/aks-keyonly/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(client.id, client.primary) },
    });
    const body = (await aml.json()) as Record<string, unknown>;
    // Assess
    expect(oauth).toMatchObject({ ok: false, error: 'invalid_scope', status: 400 });
    expect(aml.status).toBe(403);
    expect(JSON.stringify(body)).toContain('V1_TOKEN_AUTH_DISABLED');
    expect(JSON.stringify(body)).toContain('token_auth_enabled=True');
  });

  it('keeps serving the cached token while the workspace region is down, then 503 + Retry-After, then recovers', async () => {
    // Prepare
    const first = (await (await amlShape()).json()) as Record<string, number | string>;
    emulators.control.setFault('modelManagement', { outage: true }, REGION);
    // Act
    clock.set(Number(first['refreshAfterTimeUtc']) * 1000 + 1000);
    const during = await amlShape();
    const duringBody = (await during.json()) as Record<string, unknown>;
    await sleep(500);
    clock.set(Number(first['expiryTimeUtc']) * 1000 - 299_000);
    const exhausted = await amlShape();
    const exhaustedBody = await exhausted.text();
    emulators.control.setFault('modelManagement', undefined, REGION);
    clock.advance(5_001); // past the resolver's 5 s retry pause and the cache's 2 s one
    // The stand-in issues tokens on real time while this clock ran a day ahead: a fresh token is
    // servable here only once real time moved on by more than those pauses since the first token.
    const firstIssuedSeconds = Number(first['expiryTimeUtc']) - 86_400;
    while (Date.now() < (firstIssuedSeconds + 8) * 1000) await sleep(100);
    const recovered = await amlShape();
    const recoveredBody = (await recovered.json()) as Record<string, unknown>;
    clock.set(Date.now());
    // Assess
    expect(during.status).toBe(200);
    expect(duringBody['accessToken']).toBe(first['accessToken']);
    expect(exhausted.status).toBe(503);
    expect(exhausted.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(exhaustedBody).toContain('v1ServiceToken');
    expect(recovered.status).toBe(200);
    expect(recoveredBody['accessToken']).not.toBe(first['accessToken']);
    expect(emulators.control.counters()['mms.token.faulted']).toBeGreaterThan(0);
  });

  it('gives up the service read of a silent region at the time limit, closing its request', async () => {
    // Prepare: the model-management client as the broker module builds it (no retries), its identity's
    // token already held; then the region accepts requests and stays silent for 20 s
    const mms = new ModelManagementClient({
      sender: { sendRequest: (request) => clients.modelManagement.sendRequest(request) },
      hostTemplate: config.v1.mmsHostTemplate,
      sleep: realSleep,
    });
    const endpoint = v1('aks-token', 'AKS');
    await mms.describe(endpoint);
    emulators.control.setFault('modelManagement', { latencyMs: 20_000 }, REGION);
    let refused: unknown;

    // Act
    const left = await timersLeftBy(async () => {
      refused = await resolveV1TokenScope(endpoint, {
        services: mms,
        source: new V1ServiceTokenSource(mms),
        timeLimitMs: 500,
      }).catch((error: unknown) => error);
    });

    // Assess: a 503 timeout, and no request left waiting on the region (its 30-s try limit's timer pending)
    expect(refused).toMatchObject({ status: 503, failure: 'timeout' });
    expect(left).toEqual([]);
  });

  it('reports upstream latency per region, and no token or secret reaches logs, telemetry or tables', async () => {
    // Prepare
    const token = String(((await (await amlShape()).json()) as Record<string, unknown>)['accessToken']);
    await module.audit.flush();
    const rows: unknown[] = [];
    for (const table of [config.tables.audit, config.tables.clients])
      for await (const row of clients.table(table).listEntities()) rows.push(row);
    // Assess
    const latency = telemetry.metrics.filter((m) => m.name === 'BrokerUpstreamLatencyMs');
    expect(
      latency.some((m) => m.props?.['region'] === REGION && m.props['upstream'] === 'v1ServiceToken'),
    ).toBe(true);
    expect(latency.some((m) => m.props?.['region'] === REGION && m.props['outcome'] === 'network')).toBe(
      true,
    );
    const stored = JSON.stringify([rows, logs, telemetry.text()]);
    for (const secret of [token, client.primary, client.secondary, INTEGRATION_PEPPER])
      expect(stored).not.toContain(secret);
    expect(stored).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });
});
