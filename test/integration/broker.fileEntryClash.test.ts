import { odata, TableClient } from '@azure/data-tables';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { AzureClients } from '../../shared/azureClients';
import { type BrokerModule, createBrokerModule } from '../../shared/broker/module';
import { loadConfig } from '../../shared/config';
import { TableEndpointRegistry } from '../../shared/endpoints/TableEndpointRegistry';
import { validateEndpoint } from '../../shared/endpoints/validateEndpoint';
import { silentLogger } from '../../shared/logging';
import type { ModuleRoot } from '../../shared/services';
import { type TestClient, testClientOf } from '../fakes/broker/buildTestBroker';
import { serveBroker, type ServedBroker } from '../fakes/broker/serveBroker';
import { CapturingTelemetry } from '../fakes/capture';
import { FakeClock } from '../fakes/FakeClock';
import { standInSettings, useEmulatorIdentity, withEmulators } from '../support/emulators';
import { basicAuth } from '../support/httpParts';

/**
 * The broker over the real Table registry (Azurite) with an `ENDPOINTS_FILE`, Key Vault and ARM at the
 * stand-ins: table registrations made before the file declared their Key Vault secret, or their Azure ML
 * endpoint, for an entry under another id. Needs NODE_EXTRA_CA_CERTS=.local/certs/local-ca.pem (set by `npm test`).
 */
const WS = {
  subscriptionId: '00000000-0000-0000-0000-0000000000c7',
  resourceGroup: 'rg-clash',
  workspace: 'ws-clash',
};
const at = (name: string) => ({ ...WS, name });
const rules = { defaultPeriodHours: 100, defaultGraceHours: 25, minGraceHours: 24 };

jest.setTimeout(60_000);

describe('Token broker: table registrations an ENDPOINTS_FILE entry clashes with (local stack)', () => {
  let emulators: RunningEmulators;
  let azurite: RunningAzurite;
  let module: BrokerModule;
  let clients: AzureClients;
  let config: ReturnType<typeof loadConfig>;
  let served: ServedBroker;
  let client: TestClient;
  let restoreEnv: () => void = () => undefined;
  const logs: string[] = [];
  const scoring: Record<string, string> = {};

  beforeAll(async () => {
    [emulators, azurite] = await Promise.all([withEmulators(), startAzurite()]);
    restoreEnv = useEmulatorIdentity(emulators);
    const { control } = emulators;
    control.addWorkspace(WS);
    for (const [name, authMode] of [
      ['entry-ep', 'Key'],
      ['row-ep', 'Key'],
      ['token-ep', 'AMLToken'],
    ] as const)
      scoring[name] = control.addOnlineEndpoint({ ...at(name), authMode }).scoringUri;
    config = loadConfig(standInSettings(emulators, azurite, 'clash'));
    clients = new AzureClients(config);
    // Registrations made through the API, before the file declared the secret of the first (for another
    // endpoint) and the Azure ML endpoint of the second
    const table = TableClient.fromConnectionString(azurite.connectionString, `clash${Date.now() % 100000}`, {
      allowInsecureConnection: true,
    });
    await table.createTable();
    const now = () => new Date().toISOString();
    const before = new TableEndpointRegistry({ table, rules, now });
    const row = (fields: Record<string, unknown>) => validateEndpoint(fields, rules, now());
    await before.create(
      row({ id: 'old-row', arm: at('row-ep'), secretName: 'shared-secret', brokerKeyAccess: true }),
    );
    await before.create(row({ id: 'token-row', arm: at('token-ep'), authMode: 'AMLToken' }));
    const redeployed = new TableEndpointRegistry({
      table,
      rules,
      now,
      endpointsFile: 'endpoints.json',
      readText: async () =>
        JSON.stringify([
          { id: 'file-entry', arm: at('entry-ep'), secretName: 'Shared-Secret', brokerKeyAccess: true },
          { id: 'file-token', arm: at('TOKEN-EP'), authMode: 'AMLToken' },
        ]),
      logger: silentLogger,
    });
    // The entry has rotated: the secret holds its endpoint's key
    await clients.secrets.setSecret('shared-secret', control.keys(at('entry-ep')).primaryKey, {
      tags: { rotatedAt: now(), slot: 'Primary' },
    });
    const root: ModuleRoot = {
      config,
      clients,
      telemetry: new CapturingTelemetry(),
      clock: new FakeClock(Date.now()),
    };
    module = createBrokerModule(root, {
      endpoints: redeployed,
      logSink: (level, line) => void logs.push(`${level} ${line}`),
    });
    served = await serveBroker(module);
    // A client allowed the table registrations only, with key access
    client = testClientOf(
      await module.admin.create({
        id: 'row-client',
        displayName: 'Client of the table registrations',
        allowedScopes: ['old-row', 'token-row'],
        keyAccess: true,
      }),
    );
  });

  afterAll(async () => {
    await module?.audit.close();
    await served?.close();
    await Promise.all([emulators?.stop(), azurite?.stop()]);
    restoreEnv();
  });

  const oauth = (scope: string) =>
    fetch(`${served.url}/api/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basicAuth(client.id, client.primary),
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
    });
  const score = (name: string, credential: string) =>
    fetch(scoring[name] ?? '', {
      method: 'POST',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body: '{"data":[[1,2]]}',
    });

  it("refuses the key of a registration whose Key Vault secret the file declares for another endpoint: invalid_scope, audited EndpointDeclaredInFile, never the entry's key", async () => {
    // Act
    const answer = await oauth('old-row');
    const body = (await answer.json()) as Record<string, unknown>;
    const aml = await fetch(`${served.url}/api/endpoints/old-row/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(client.id, client.primary) },
    });
    const problem = (await aml.json()) as Record<string, unknown>;
    await module.audit.flush();
    const rows: Array<Record<string, unknown>> = [];
    const filter = odata`clientId eq ${client.id} and scope eq 'old-row'`;
    for await (const r of clients.table(config.tables.audit).listEntities({ queryOptions: { filter } }))
      rows.push(r);

    // Assess: the secret holds the entry's endpoint's key, which the client was never allowed
    const entryKey = emulators.control.keys(at('entry-ep')).primaryKey;
    expect(answer.status).toBe(400);
    expect(body['error']).toBe('invalid_scope');
    expect(body).not.toHaveProperty('access_token');
    expect(aml.status).toBe(403);
    expect(problem['code']).toBe('EndpointDeclaredInFile');
    expect(rows.map((r) => [r['outcome'], r['reason']])).toEqual([
      ['denied', 'EndpointDeclaredInFile'],
      ['denied', 'EndpointDeclaredInFile'],
    ]);
    expect(logs).toContainEqual(
      'warn ScopeResolver => resolve => Key Vault secret declared in ENDPOINTS_FILE for another endpoint, key refused ' +
        'endpointId=old-row alsoRegisteredAs=file-entry',
    );
    expect(JSON.stringify([logs, rows, served.bodies])).not.toContain(entryKey);
  });

  it("serves a token registration at an entry's Azure ML endpoint: its token is for that very endpoint", async () => {
    // Act
    const answer = await oauth('token-row');
    const body = (await answer.json()) as Record<string, unknown>;
    const scored = await score('token-ep', String(body['access_token']));

    // Assess
    expect(answer.status).toBe(200);
    expect(scored.status).toBe(200);
  });
});
