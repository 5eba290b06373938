import { odata } from '@azure/data-tables';
import { HttpRequest, type HttpResponseInit } from '@azure/functions';

import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { AzureClients } from '../../shared/azureClients';
import { type BrokerModule, createBrokerModule } from '../../shared/broker/module';
import { loadConfig } from '../../shared/config';
import type { ModuleRoot } from '../../shared/services';
import { type TestClient, testClientOf } from '../fakes/broker/buildTestBroker';
import { InMemoryEndpointLookup, testEndpoint } from '../fakes/broker/InMemoryEndpointLookup';
import { runMsiClient } from '../fakes/broker/offTheShelfClients';
import { serveBroker, type ServedBroker } from '../fakes/broker/serveBroker';
import { CapturingTelemetry } from '../fakes/capture';
import { FakeClock } from '../fakes/FakeClock';
import {
  INTEGRATION_PEPPER,
  standInSettings,
  useEmulatorIdentity,
  withEmulators,
} from '../support/emulators';
import { basicAuth, jsonOf } from '../support/httpParts';
import { malformedScope, withheldScope } from '../support/recordedScope';
import { sleep } from '../support/waitFor';

/**
 * The broker with its real adapters (DefaultAzureCredential → managed identity stand-in, ARM
 * `onlineEndpoints.getToken`, Key Vault `getSecret`, Table storage on Azurite) against the local stack.
 * Needs NODE_EXTRA_CA_CERTS=.local/certs/local-ca.pem (set by `npm test`).
 */
const SUB = '00000000-0000-0000-0000-0000000000b1';
const WS = { subscriptionId: SUB, resourceGroup: 'rg-broker', workspace: 'ws-broker' };

jest.setTimeout(60_000);

describe('Token broker on the local stack', () => {
  let emulators: RunningEmulators;
  let azurite: RunningAzurite;
  let module: BrokerModule;
  let clients: AzureClients;
  let clock: FakeClock;
  let config: ReturnType<typeof loadConfig>;
  let served: ServedBroker;
  const logs: string[] = [];
  const scoring: Record<string, string> = {};
  let restoreEnv: () => void = () => undefined;
  let client: TestClient;
  const telemetry = new CapturingTelemetry();

  beforeAll(async () => {
    [emulators, azurite] = await Promise.all([withEmulators(), startAzurite()]);
    restoreEnv = useEmulatorIdentity(emulators);
    const { control } = emulators;
    control.addWorkspace(WS);
    for (const [name, authMode] of [
      ['int-token', 'AMLToken'],
      ['int-aad', 'AADToken'],
      ['int-key', 'Key'],
    ] as const) {
      scoring[name] = control.addOnlineEndpoint({ ...WS, name, authMode }).scoringUri;
    }
    config = loadConfig(standInSettings(emulators, azurite, 'brk'));
    clock = new FakeClock(Date.now());
    clients = new AzureClients(config);
    const root: ModuleRoot = { config, clients, telemetry, clock };
    const arm = (name: string) => ({ ...WS, name });
    const endpoints = new InMemoryEndpointLookup();
    endpoints.add(testEndpoint('int-token', 'AMLToken', { arm: arm('int-token') }));
    endpoints.add(testEndpoint('int-aad', 'AADToken', { arm: arm('int-aad') }));
    endpoints.add(
      testEndpoint('int-key', 'Key', {
        arm: arm('int-key'),
        brokerKeyAccess: true,
        secretName: 'int-key-secret',
      }),
    );
    module = createBrokerModule(root, {
      endpoints,
      logSink: (level, line) => void logs.push(`${level} ${line}`),
    });
    await clients.secrets.setSecret('int-key-secret', control.keys(arm('int-key')).primaryKey, {
      tags: { rotatedAt: new Date().toISOString(), slot: 'Primary' },
    });
    served = await serveBroker(module);
    const created = await module.admin.create({
      id: 'int-client',
      displayName: 'Integration client',
      allowedScopes: ['int-token', 'int-aad', 'int-key', 'https://ml.azure.com'],
      keyAccess: true,
    });
    client = testClientOf(created);
  });

  afterAll(async () => {
    await module?.audit.close();
    await served?.close();
    await Promise.all([emulators?.stop(), azurite?.stop()]);
    restoreEnv();
  });

  const amlRequest = (id: string) =>
    module.amlToken.handle(
      new HttpRequest({
        method: 'POST',
        url: `http://l/api/endpoints/${id}/token`,
        params: { id },
        headers: { authorization: basicAuth(client.id, client.primary) },
      }),
      'int',
    );
  const score = (name: string, token: string) =>
    fetch(scoring[name] ?? '', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"data":[[1,2]]}',
    });

  /**
   * Sends each request a second apart on the broker's clock, so that each denial has its own TokenDenied
   * event, then reads the audit rows `filter` selects once the audit is flushed.
   */
  const sendApart = async (sends: Array<() => Promise<Response>>, filter: string) => {
    const statuses: number[] = [];
    for (const send of sends) {
      statuses.push((await send()).status);
      clock.advance(1000);
    }
    await module.audit.flush();
    const rows: Array<Record<string, unknown>> = [];
    for await (const row of clients.table(config.tables.audit).listEntities({ queryOptions: { filter } }))
      rows.push(row);
    return { statuses, rows };
  };

  it('200 concurrent cold requests make one ARM token call, and the token scores the AMLToken endpoint', async () => {
    // Prepare
    emulators.control.resetCounters();

    // Act
    const replies = await Promise.all(Array.from({ length: 200 }, () => amlRequest('int-token')));
    const token = String(jsonOf(replies[0] as HttpResponseInit)['accessToken']);
    const scored = await score('int-token', token);

    // Assess
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(emulators.control.counters()['arm.token']).toBe(1);
    expect(scored.status).toBe(200);
  });

  it('a managed-identity token for ml.azure.com scores the AADToken endpoint', async () => {
    // Act
    const r = await amlRequest('int-aad');
    const scored = await score('int-aad', String(jsonOf(r)['accessToken']));

    // Assess
    expect(r.status).toBe(200);
    expect(scored.status).toBe(200);
  });

  it('the Key endpoint key comes from Key Vault and scores', async () => {
    // Act
    const r = await amlRequest('int-key');
    const scored = await score('int-key', String(jsonOf(r)['accessToken']));

    // Assess
    expect(r.status).toBe(200);
    expect(scored.status).toBe(200);
  });

  it('an unmodified ManagedIdentityCredential gets a token from the broker that scores', async () => {
    // Act
    const result = await runMsiClient(
      { IDENTITY_ENDPOINT: `${served.url}/api/msi/token`, IDENTITY_HEADER: client.secondary },
      'int-token/.default',
      client.id,
    );
    const scored = await score('int-token', result.tokens?.[0]?.token ?? '');

    // Assess
    expect(result.ok).toBe(true);
    expect(scored.status).toBe(200);
  });

  it('answers a malformed resource with 400 and a well-formed refused one with 403, over HTTP and to the SDK', async () => {
    // Prepare
    const ask = (resource: string) =>
      fetch(
        `${served.url}/api/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(resource)}&client_id=${client.id}`,
        { headers: { 'x-identity-header': client.primary } },
      );
    const env = { IDENTITY_ENDPOINT: `${served.url}/api/msi/token`, IDENTITY_HEADER: client.secondary };

    // Act
    const malformed = await ask('http://ml.azure.com');
    const refused = await ask('https://ml.azure.net');
    const viaSdk = await runMsiClient(env, 'http://ml.azure.com/.default', client.id);

    // Assess: the App Service error shape for both, the status telling the mistake from the refusal
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({
      statusCode: 400,
      message: 'The scope is not a valid endpoint id or https resource URI.',
      correlationId: expect.any(String) as unknown,
    });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ statusCode: 403 });
    expect(viaSdk.ok).toBe(false);
    expect(viaSdk.message).toContain('not a valid endpoint id or https resource URI');
  });

  it('answers an Azure ML route id that is no endpoint id with 400 ScopeMalformed, audited and counted as such', async () => {
    // Prepare: the raw path segment reaches the function undecoded, as on the Functions host
    const ask = (id: string) =>
      fetch(`${served.url}/api/endpoints/${id}/token`, {
        method: 'POST',
        headers: { authorization: basicAuth(client.id, client.primary) },
      });
    const denials = () =>
      telemetry.metrics
        .filter((m) => m.name === 'BrokerTokensDenied' && m.props?.['protocol'] === 'amlToken')
        .map((m) => m.props?.['reason']);
    const before = denials().length;

    // Act
    const malformed = [await ask('Int_Token'), await ask('%FF')];
    const refused = [await ask('int-other'), await ask('int-missing')];
    await module.audit.flush();
    const rows: Array<Record<string, unknown>> = [];
    for await (const row of clients.table(config.tables.audit).listEntities({
      queryOptions: {
        filter: odata`clientId eq ${client.id} and protocol eq 'amlToken' and outcome eq 'denied'`,
      },
    }))
      rows.push(row);

    // Assess: problem details whose status and code tell the caller's mistake from a refusal
    for (const r of malformed) {
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toBe('application/problem+json');
      expect(await r.json()).toMatchObject({ title: 'Bad Request', status: 400, code: 'ScopeMalformed' });
    }
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(await r.json()).toMatchObject({ title: 'Forbidden', status: 403, code: 'ScopeNotAllowed' });
    }
    // and so do the audit rows in Table storage and the BrokerTokensDenied metric
    // (an id that does not parse as it was sent: a fingerprint and its length, for it may be a secret)
    const reasonOf = (scope: string) => rows.filter((r) => r['scope'] === scope).map((r) => r['reason']);
    expect([reasonOf(malformedScope('Int_Token')), reasonOf(malformedScope('%FF'))]).toEqual([
      ['ScopeMalformed'],
      ['ScopeMalformed'],
    ]);
    expect([reasonOf('int-other'), reasonOf('int-missing')]).toEqual([
      ['ScopeNotAllowed'],
      ['ScopeNotAllowed'],
    ]);
    expect(denials().slice(before)).toEqual([
      'ScopeMalformed',
      'ScopeMalformed',
      'ScopeNotAllowed',
      'ScopeNotAllowed',
    ]);
  });

  it('serves cached tokens through an ARM outage until the minimum lifetime, then 503, then recovers', async () => {
    // Prepare
    const first = jsonOf(await amlRequest('int-token'));
    emulators.control.setFault('arm', { outage: true });

    // Act
    clock.set(Number(first['refreshAfterTimeUtc']) * 1000 + 1000);
    const during = await amlRequest('int-token');
    await sleep(500);
    clock.set(Number(first['expiryTimeUtc']) * 1000 - 299_000);
    const exhausted = await amlRequest('int-token');
    emulators.control.clearFaults();
    clock.advance(2_001);
    const recovered = await amlRequest('int-token');
    clock.set(Date.now());

    // Assess
    expect(during.status).toBe(200);
    expect(jsonOf(during)['accessToken']).toBe(first['accessToken']);
    expect(exhausted.status).toBe(503);
    expect((exhausted.headers as Record<string, string>)['retry-after']).toBeDefined();
    expect(jsonOf(exhausted)['detail']).toContain('amlToken failed');
    expect(recovered.status).toBe(200);
  });

  it('refuses unauthorized scopes and disabled clients; audit rows reach Table storage without secrets', async () => {
    // Prepare
    const other = await module.admin.create({
      id: 'int-narrow',
      displayName: 'Narrow',
      allowedScopes: ['int-aad'],
    });
    const narrowAuth = `Basic ${Buffer.from(`int-narrow:${other.primarySecret}`).toString('base64')}`;
    const request = () =>
      module.amlToken.handle(
        new HttpRequest({
          method: 'POST',
          url: 'http://l',
          params: { id: 'int-token' },
          headers: { authorization: narrowAuth },
        }),
        'int',
      );

    // Act
    const refused = await request();
    await module.admin.update('int-narrow', { enabled: false });
    const disabled = await module.oauth.handle(
      new HttpRequest({
        method: 'POST',
        url: 'http://l/api/oauth2/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: narrowAuth },
        body: { string: 'grant_type=client_credentials' },
      }),
    );
    await module.audit.flush();
    const auditRows: Array<Record<string, unknown>> = [];
    for await (const row of clients.table(config.tables.audit).listEntities()) auditRows.push(row);
    const clientRows: Array<Record<string, unknown>> = [];
    for await (const row of clients.table(config.tables.clients).listEntities()) clientRows.push(row);

    // Assess
    expect(refused.status).toBe(403);
    expect(disabled.status).toBe(400);
    expect(jsonOf(disabled)['error']).toBe('unauthorized_client');
    const reasons = auditRows.filter((r) => r['clientId'] === 'int-narrow').map((r) => r['reason']);
    expect(reasons).toEqual(expect.arrayContaining(['ScopeNotAllowed', 'ClientNotAuthorized']));
    const issued = auditRows.filter((r) => r['outcome'] === 'issued');
    expect(issued.reduce((sum, r) => sum + Number(r['count']), 0)).toBeGreaterThanOrEqual(200);
    for (const row of issued) expect(String(row['offsetsMs']).split(',')).toHaveLength(Number(row['count']));
    const stored = JSON.stringify([auditRows, clientRows, logs]);
    for (const secret of [
      client.primary,
      client.secondary,
      other.primarySecret,
      other.secondarySecret,
      INTEGRATION_PEPPER,
    ]) {
      expect(stored).not.toContain(secret);
    }
    expect(stored).not.toContain(emulators.control.keys({ ...WS, name: 'int-key' }).primaryKey);
    expect(stored).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });
  it('records a secret, token or key pasted where the scope goes as a fingerprint: none reaches a Table row or TokenDenied', async () => {
    // Prepare: over HTTP, the secret in an OAuth scope, a JWT as the managed identity resource, a key as
    // a Bearer-less Azure ML route id, the id and secret pasted as the route id, and the secret in a URI
    const jwt = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL21sLmF6dXJlLmNvbSJ9.c2lnbmF0dXJl';
    const key = 'pQ3x9-Lk2mV8zR1tY6wB0nH4sD7fG5jKaE2cU9oI1Y';
    const oauth = (scope: string) =>
      fetch(`${served.url}/api/oauth2/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basicAuth(client.id, client.primary),
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
      });
    const msi = (resource: string) =>
      fetch(
        `${served.url}/api/msi/token?api-version=2019-08-01&resource=${encodeURIComponent(resource)}&client_id=${client.id}`,
        { headers: { 'x-identity-header': client.primary } },
      );
    const aml = (id: string) =>
      fetch(`${served.url}/api/endpoints/${id}/token`, {
        method: 'POST',
        headers: { authorization: basicAuth(client.id, client.primary) },
      });
    const inUri = `https://ml.azure.com/${client.primary}`;
    const sends = [
      () => oauth(client.secondary),
      () => msi(jwt),
      () => aml(key),
      () => aml(`${client.id}:${client.primary}`),
      () => oauth(inUri),
    ];
    const since = telemetry.events.length;

    // Act
    const { statuses, rows } = await sendApart(
      sends,
      odata`clientId eq ${client.id} and outcome eq 'denied'`,
    );

    // Assess: refused, each recorded (row and event) as a fingerprint of what was sent and its length,
    // `withheld` where it holds the secret the request presented
    expect(statuses).toEqual([400, 400, 400, 400, 400]);
    const recorded = [
      malformedScope(client.secondary),
      malformedScope(jwt),
      malformedScope(key),
      withheldScope(`${client.id}:${client.primary}`),
      withheldScope(inUri),
    ];
    const scopes = new Set(rows.map((r) => r['scope']));
    for (const scope of recorded) expect(scopes).toContain(scope);
    const events = telemetry.events.slice(since).filter((e) => e.name === 'TokenDenied');
    expect(events.map((e) => e.props?.['scope'])).toEqual(recorded);
    const stored = JSON.stringify([rows, events, logs]);
    for (const pasted of [client.primary, client.secondary, jwt, key]) expect(stored).not.toContain(pasted);
    expect(stored).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./);
  });

  it('records a well-formed scope holding the secret of a request refused before the broker as withheld: no Table row or TokenDenied holds it', async () => {
    // Prepare: over HTTP, the secret in a resource URI's path on an OAuth request without grant_type and on
    // a managed identity request without api-version, both refused by their route before authentication
    const inUri = `https://ml.azure.com/${client.secondary}`;
    const sends = [
      () =>
        fetch(`${served.url}/api/oauth2/token`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: basicAuth(client.id, client.secondary),
          },
          body: new URLSearchParams({ scope: inUri }).toString(),
        }),
      () =>
        fetch(`${served.url}/api/msi/token?resource=${encodeURIComponent(inUri)}&client_id=${client.id}`, {
          headers: { 'x-identity-header': client.secondary },
        }),
    ];
    const since = telemetry.events.length;

    // Act
    const { statuses, rows } = await sendApart(
      sends,
      odata`clientId eq ${client.id} and scope eq ${withheldScope(inUri)}`,
    );

    // Assess: one row each (the route's reason), the event alike, and the secret nowhere
    expect(statuses).toEqual([400, 400]);
    expect(rows.map((r) => [r['protocol'], r['reason']]).sort()).toEqual([
      ['msi', 'BadRequest'],
      ['oauth', 'InvalidRequest'],
    ]);
    const events = telemetry.events.slice(since).filter((e) => e.name === 'TokenDenied');
    expect(events.map((e) => e.props?.['scope'])).toEqual([withheldScope(inUri), withheldScope(inUri)]);
    const stored = JSON.stringify([rows, events, logs]);
    expect(stored).not.toContain(client.secondary);
  });
});
