import { type RunningAzurite, startAzurite } from '../../local/azurite';
import { AzureClients } from '../../shared/azureClients';
import type { BrokerClientRecord, BrokerClientRegistry } from '../../shared/broker/BrokerClient';
import { type BrokerModule, createBrokerModule } from '../../shared/broker/module';
import { TableBrokerClientRegistry } from '../../shared/broker/TableBrokerClientRegistry';
import { loadConfig } from '../../shared/config';
import type { ManagedEndpoint } from '../../shared/endpoints/ManagedEndpoint';
import type { PageRequest } from '../../shared/listPages';
import { CapturingAuditLog } from '../fakes/broker/CapturingAuditLog';
import { FakeUpstreamSource } from '../fakes/broker/FakeUpstreamSource';
import { InMemoryEndpointLookup, testEndpoint } from '../fakes/broker/InMemoryEndpointLookup';
import { serveBroker, type ServedBroker } from '../fakes/broker/serveBroker';
import { CapturingTelemetry } from '../fakes/capture';
import { FakeClock } from '../fakes/FakeClock';
import { basicAuth } from '../support/httpParts';

/** The Table registry, counting its reads of one client (what a token request may cost storage). */
class CountingRegistry implements BrokerClientRegistry {
  reads = 0;
  constructor(private readonly inner: TableBrokerClientRegistry) {}
  get(id: string): Promise<BrokerClientRecord | undefined> {
    this.reads++;
    return this.inner.get(id);
  }
  listPage = (request: PageRequest) => this.inner.listPage(request);
  create = (record: BrokerClientRecord) => this.inner.create(record);
  update = (record: BrokerClientRecord) => this.inner.update(record);
  delete = (id: string) => this.inner.delete(id);
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

jest.setTimeout(60_000);

/**
 * A flood of made-up client ids against the token routes over HTTP, with the client registry in Table
 * storage on Azurite: storage is read at most the cold-read budget, a client in use keeps its cached
 * record, and while reads are held back every refused request, made-up id or wrong secret, gets the
 * same 503 with `Retry-After`.
 */
describe('Token routes under a flood of made-up client ids', () => {
  let azurite: RunningAzurite;
  let module: BrokerModule;
  let registry: CountingRegistry;
  let served: ServedBroker;

  beforeAll(async () => {
    azurite = await startAzurite();
    const config = loadConfig({
      AzureWebJobsStorage: azurite.connectionString,
      KEY_VAULT_URL: 'https://myvault.vault.azure.net/',
      BROKER_SECRET_PEPPER: 'integration-pepper-0123456789abcdefghijklmnop',
      BROKER_CLIENT_COLD_READS_PER_SECOND: '2',
      TABLE_PREFIX: `cold${Date.now() % 100000}`,
    });
    // A clock that stands still: the budget gets no read back during the test.
    const clock = new FakeClock(Date.now());
    const clients = new AzureClients(config);
    registry = new CountingRegistry(
      new TableBrokerClientRegistry({ table: clients.table(config.tables.clients) }),
    );
    const endpoints = new InMemoryEndpointLookup();
    endpoints.add(testEndpoint('demo-token', 'AMLToken'));
    module = createBrokerModule(
      { config, clients, telemetry: new CapturingTelemetry(), clock },
      {
        endpoints,
        clients: registry,
        audit: new CapturingAuditLog(),
        sources: { amlToken: new FakeUpstreamSource<ManagedEndpoint>('amlToken', clock) },
        logSink: () => undefined,
      },
    );
    served = await serveBroker(module);
  }, 60_000);

  afterAll(async () => {
    await served?.close();
    await azurite?.stop();
  });

  /** One request over each route, with the client id and secret given. */
  const routes: Record<string, (id: string, secret: string) => Promise<Response>> = {
    oauth: (id, secret) =>
      fetch(`${served.url}/api/oauth2/token`, {
        method: 'POST',
        headers: {
          authorization: basicAuth(id, secret),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'grant_type=client_credentials&scope=demo-token',
      }),
    msi: (id, secret) =>
      fetch(`${served.url}/api/msi/token?resource=demo-token&api-version=2019-08-01&client_id=${id}`, {
        headers: { 'x-identity-header': secret },
      }),
    amlToken: (id, secret) =>
      fetch(`${served.url}/api/endpoints/demo-token/token`, {
        method: 'POST',
        headers: { authorization: basicAuth(id, secret) },
      }),
  };

  /** Status, headers and body, less what differs between any two responses (time, invocation id). */
  const answer = async (response: Response): Promise<Answer> => {
    const headers = Object.fromEntries(response.headers);
    delete headers['date'];
    const body = (await response.json()) as Record<string, unknown>;
    delete body['correlationId'];
    delete body['instance'];
    return { status: response.status, headers, body };
  };

  // First: it must find the budget untouched, which the flood below spends for good (the clock stands still).
  it('refuses an id no client can have (65 characters) on every route with a 401, without reading storage', async () => {
    // Prepare
    const readsBefore = registry.reads;
    const tooLong = `a${'b'.repeat(64)}`;

    // Act
    const statuses: number[] = [];
    for (const send of Object.values(routes)) {
      const response = await send(tooLong, 'guess');
      statuses.push(response.status);
      await response.arrayBuffer();
    }

    // Assess: answered as an unknown id is, with no Table read (and so nothing taken from the budget)
    expect(statuses).toEqual([401, 401, 401]);
    expect(registry.reads).toBe(readsBefore);
  });

  it('reads storage within the budget, keeps serving the client in use, and refuses every other request alike', async () => {
    // Prepare: a client created through the admin API and served once, over each route
    const created = await module.admin.create({
      id: 'cold-client',
      displayName: 'Cold',
      allowedScopes: ['demo-token'],
    });
    const secret = created.primarySecret;
    for (const send of Object.values(routes)) expect((await send('cold-client', secret)).status).toBe(200);
    const readsBefore = registry.reads;

    // Act: 300 made-up ids, 30 at a time, then the client in use, and refusals of both kinds
    const floodStatuses: number[] = [];
    for (let batch = 0; batch < 10; batch++) {
      const responses = await Promise.all(
        Array.from({ length: 30 }, (_, i) => routes['oauth']!(`made-up-${batch}-${i}`, 'guess')),
      );
      for (const response of responses) {
        floodStatuses.push(response.status);
        await response.arrayBuffer();
      }
    }
    const floodReads = registry.reads - readsBefore;
    const inUse: number[] = [];
    for (const send of Object.values(routes)) inUse.push((await send('cold-client', secret)).status);
    const readsInUse = registry.reads - readsBefore - floodReads;
    const refusals: Record<string, { madeUp: Answer; wrongSecret: Answer }> = {};
    for (const [name, send] of Object.entries(routes)) {
      refusals[name] = {
        madeUp: await answer(await send('never-seen-id', 'guess')),
        wrongSecret: await answer(await send('cold-client', 'guess')),
      };
    }

    // Assess: 2 reads a second in bursts of 20, and no read for the client in use
    expect(floodReads).toBeLessThanOrEqual(20);
    expect(floodStatuses.filter((s) => s === 401).length).toBeLessThanOrEqual(20);
    expect(floodStatuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(280);
    expect([inUse, readsInUse]).toEqual([[200, 200, 200], 0]);
    for (const { madeUp, wrongSecret } of Object.values(refusals)) {
      expect(madeUp.status).toBe(503);
      expect(madeUp.headers['retry-after']).toBe('1');
      expect(wrongSecret).toEqual(madeUp);
    }
    expect(refusals['oauth']!.madeUp.body).toMatchObject({ error: 'temporarily_unavailable' });
  });
});
