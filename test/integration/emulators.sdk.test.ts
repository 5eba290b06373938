import { AzureMachineLearningWorkspaces } from '@azure/arm-machinelearning';
import { ManagedIdentityCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';

import type { RunningEmulators } from '../../local/emulators';
import type { ManagedEndpoint } from '../../shared/endpoints/ManagedEndpoint';
import { DEFAULT_PROBE } from '../../shared/endpoints/validateProbe';
import { ArmEndpointDescriber } from '../../shared/events/EndpointDescriber';
import { ArmEndpointKeyClient } from '../../shared/rotation/adapters/ArmEndpointKeyClient';
import { ArmServerlessKeyClient } from '../../shared/rotation/adapters/ArmServerlessKeyClient';
import { call, withEmulators } from '../support/emulators';
import { timersLeftBy } from '../support/pendingTimers';
import { sleep } from '../support/waitFor';

jest.setTimeout(30_000);

const WS = {
  subscriptionId: '00000000-0000-0000-0000-0000000000aa',
  resourceGroup: 'rg-sdk',
  workspace: 'ws-sdk',
};
const API_VERSION = '2024-10-01';
/** The stand-in's `key-ep` as the registry holds it, for the rotation's key client. */
const KEY_ENDPOINT: ManagedEndpoint = {
  id: 'key-ep',
  kind: 'onlineEndpoint',
  arm: { ...WS, name: 'key-ep' },
  authMode: 'Key',
  secretName: 'key-ep',
  rotationPeriodHours: 100,
  gracePeriodHours: 25,
  probe: DEFAULT_PROBE,
  brokerKeyAccess: false,
  enabled: true,
  createdAt: '',
  updatedAt: '',
};

let em: RunningEmulators;
let credential: ManagedIdentityCredential;

/** The serverless endpoints' key client over `client`'s pipeline, as the rotation module builds it. */
function serverlessKeys(client: AzureMachineLearningWorkspaces): ArmServerlessKeyClient {
  return new ArmServerlessKeyClient({
    client: () => client,
    armEndpoint: em.url,
    apiVersion: API_VERSION,
    sleep,
  });
}

function ml(): AzureMachineLearningWorkspaces {
  // Same options as shared/azureClients.ts.
  return new AzureMachineLearningWorkspaces(credential, WS.subscriptionId, {
    endpoint: em.url,
    $host: em.url,
    apiVersion: API_VERSION,
    credentialScopes: ['https://management.azure.com/.default'],
  });
}

function secrets(): SecretClient {
  return new SecretClient(em.url, credential, { disableChallengeResourceVerification: true });
}

async function score(uri: string, credentialValue: string): Promise<number> {
  const response = await call(uri, {
    method: 'POST',
    headers: { authorization: `Bearer ${credentialValue}`, 'content-type': 'application/json' },
    body: '{"data":[[1,2]]}',
  });
  return response.status;
}

beforeAll(async () => {
  em = await withEmulators();
  // msal-node reads these when the credential is built: set them first, and nothing that selects another source.
  process.env.IDENTITY_ENDPOINT = em.identityEndpoint;
  process.env.IDENTITY_HEADER = em.identityHeader;
  for (const name of [
    'MSI_ENDPOINT',
    'MSI_SECRET',
    'IDENTITY_SERVER_THUMBPRINT',
    'IMDS_ENDPOINT',
    'AZURE_CLIENT_ID',
  ])
    delete process.env[name];
  credential = new ManagedIdentityCredential();
  em.control.addOnlineEndpoint({ ...WS, name: 'key-ep', authMode: 'Key' });
  em.control.addOnlineEndpoint({ ...WS, name: 'token-ep', authMode: 'AMLToken' });
  em.control.addOnlineEndpoint({ ...WS, name: 'aad-ep', authMode: 'AADToken' });
  em.control.setRegenerateDelayMs(50);
});

afterAll(async () => {
  await em.stop();
});

beforeEach(() => {
  em.control.clearFaults();
  em.control.setArmWriteThrottling(undefined);
  em.control.setKeyPropagationDelayMs(0);
  em.control.resetCounters();
});

describe('Class: ManagedIdentityCredential against the identity stand-in', () => {
  it('gets a JWT for the resource and serves the second call from the msal cache', async () => {
    // Act
    const first = await credential.getToken('https://vault.azure.net/.default');
    const second = await credential.getToken('https://vault.azure.net/.default');
    // Assess
    const claims = JSON.parse(Buffer.from(first.token.split('.')[1] ?? '', 'base64url').toString()) as Record<
      string,
      unknown
    >;
    expect(claims).toMatchObject({
      aud: 'https://vault.azure.net',
      oid: em.systemPrincipalId,
      tid: em.tenantId,
      iss: `https://sts.windows.net/${em.tenantId}/`,
    });
    expect(second.token).toBe(first.token);
    expect(em.control.counters()['identity.token']).toBe(1);
  });

  it('issues tokens for a user-assigned identity and refuses an unknown client id', async () => {
    // Prepare
    const { principalId } = em.control.addUserAssignedIdentity('11111111-2222-3333-4444-555555555555');
    // Act
    const token = await new ManagedIdentityCredential({
      clientId: '11111111-2222-3333-4444-555555555555',
    }).getToken('https://ml.azure.com/.default');
    // Assess
    expect(JSON.parse(Buffer.from(token.token.split('.')[1] ?? '', 'base64url').toString())).toMatchObject({
      oid: principalId,
      aud: 'https://ml.azure.com',
    });
    await expect(
      new ManagedIdentityCredential({ clientId: '99999999-0000-0000-0000-000000000000' }).getToken(
        'https://ml.azure.com/.default',
      ),
    ).rejects.toThrow(/Unable to load the proper Managed Identity/);
  });
});

describe('Class: SecretClient against the Key Vault stand-in', () => {
  it('sets, reads, lists versions, updates and refuses a disabled version', async () => {
    // Prepare
    const client = secrets();
    // Act
    const v1 = await client.setSecret('sdk-secret', 'value-1', {
      tags: { slot: 'Primary' },
      contentType: 'text/plain',
    });
    const v2 = await client.setSecret('sdk-secret', 'value-2', {
      expiresOn: new Date('2030-01-01T00:00:00Z'),
    });
    const latest = await client.getSecret('sdk-secret');
    const versions: string[] = [];
    for await (const page of client.listPropertiesOfSecretVersions('sdk-secret').byPage({ maxPageSize: 1 }))
      versions.push(...page.map((p) => p.version ?? ''));
    await client.updateSecretProperties('sdk-secret', v1.properties.version ?? '', { enabled: false });
    // Assess
    expect(latest.value).toBe('value-2');
    expect(latest.properties.expiresOn?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(versions.sort()).toEqual([v1.properties.version, v2.properties.version].sort());
    await expect(
      client.getSecret('sdk-secret', { version: v1.properties.version ?? '' }),
    ).rejects.toMatchObject({ statusCode: 403, code: 'Forbidden' });
    await expect(client.getSecret('missing-secret')).rejects.toMatchObject({
      statusCode: 404,
      code: 'SecretNotFound',
    });
    expect(em.control.secretVersions('sdk-secret').map((v) => [v.value, v.enabled, v.tags])).toEqual([
      ['value-1', false, { slot: 'Primary' }],
      ['value-2', true, {}],
    ]);
  });

  it('retries a 503 from Key Vault and succeeds once the fault is gone', async () => {
    // Prepare
    const client = secrets();
    await client.setSecret('flaky', 'v');
    em.control.setFault('keyVault', { status: 503, retryAfterSeconds: 1, probability: 1 });
    setTimeout(() => em.control.clearFaults(), 300);
    // Act
    const secret = await client.getSecret('flaky');
    // Assess
    expect(secret.value).toBe('v');
    expect(em.control.counters()['keyVault.get.faulted']).toBeGreaterThanOrEqual(1);
  });
});

describe('Class: AzureMachineLearningWorkspaces against the ARM stand-in', () => {
  it('gets an endpoint, lists keys and regenerates a key with a value as a long-running operation', async () => {
    // Prepare
    const client = ml();
    const seeded = em.control.keys({ ...WS, name: 'key-ep' });
    // Act
    const endpoint = await client.onlineEndpoints.get(WS.resourceGroup, WS.workspace, 'key-ep');
    const before = await client.onlineEndpoints.listKeys(WS.resourceGroup, WS.workspace, 'key-ep');
    await client.onlineEndpoints.beginRegenerateKeysAndWait(
      WS.resourceGroup,
      WS.workspace,
      'key-ep',
      { keyType: 'Secondary', keyValue: 'new-secondary-value' },
      { updateIntervalInMs: 10 },
    );
    const after = await client.onlineEndpoints.listKeys(WS.resourceGroup, WS.workspace, 'key-ep');
    // Assess
    expect(endpoint.properties).toMatchObject({
      authMode: 'Key',
      scoringUri: `${em.url}/inference/${WS.workspace}/key-ep/score`,
      provisioningState: 'Succeeded',
    });
    expect(before).toEqual(seeded);
    expect(after).toMatchObject({ primaryKey: before.primaryKey, secondaryKey: 'new-secondary-value' });
    expect(em.control.counters()).toMatchObject({ 'arm.regenerateKeys': 1, 'arm.listKeys': 2 });
    expect(em.control.counters()['arm.operationStatus']).toBeGreaterThanOrEqual(1);
  });

  it('gives up a regenerate at once when its caller does, and the SDK polls it no more (ArmEndpointKeyClient over the SDK)', async () => {
    // Prepare: an operation that runs on after the caller (a rotation run out of time) gives up; ARM asks
    // the SDK to wait 3 s (Retry-After) between polls, and the SDK's poller honours it
    em.control.setRegenerateDelayMs(3000);
    const keys = new ArmEndpointKeyClient({ onlineEndpoints: () => ml().onlineEndpoints, sleep });
    const controller = new AbortController();
    try {
      let ended = '';
      let stoppedIn = Infinity;
      const left = await timersLeftBy(async () => {
        const outcome = keys
          .regenerateKey(KEY_ENDPOINT, 'Secondary', 'abandoned-value', controller.signal)
          .then(
            () => 'finished',
            (error: unknown) => (error as Error).name,
          );
        // The SDK polls once as it starts (beginRegenerateKeys), then the client waits Retry-After.
        while ((em.control.counters()['arm.operationStatus'] ?? 0) < 1) await sleep(20);

        // Act
        controller.abort(new DOMException('The rotation run is out of time.', 'AbortError'));
        const givenUpAt = Date.now();
        ended = await outcome;
        stoppedIn = Date.now() - givenUpAt;
      });
      await sleep(3500);

      // Assess: the call ended without waiting out the pause, whose timer went with it, and polled no more
      expect(ended).toBe('AbortError');
      expect(stoppedIn).toBeLessThan(100);
      expect(left).toEqual([]);
      expect(em.control.counters()).toMatchObject({ 'arm.regenerateKeys': 1, 'arm.operationStatus': 1 });
    } finally {
      em.control.setRegenerateDelayMs(50);
    }
  });

  it('leaves no timer behind once a regenerate has returned (ArmEndpointKeyClient over the SDK)', async () => {
    // Prepare: ARM answers Retry-After: 1 while the operation runs; the SDK's own loop (pollUntilDone)
    // paused once more after the poll that saw it end, and that 1-s timer held the process
    const keys = new ArmEndpointKeyClient({ onlineEndpoints: () => ml().onlineEndpoints, sleep });
    // Act
    const left = await timersLeftBy(() => keys.regenerateKey(KEY_ENDPOINT, 'Secondary', 'settled-value'));
    // Assess
    expect(left).toEqual([]);
    expect(em.control.keys({ ...WS, name: 'key-ep' }).secondaryKey).toBe('settled-value');
    expect(em.control.counters()['arm.operationStatus']).toBeGreaterThanOrEqual(2);
  });

  it('issues AML tokens that the scoring URI accepts, and refuses /token on a Key endpoint', async () => {
    // Prepare
    const client = ml();
    const endpoint = await client.onlineEndpoints.get(WS.resourceGroup, WS.workspace, 'token-ep');
    // Act
    const token = await client.onlineEndpoints.getToken(WS.resourceGroup, WS.workspace, 'token-ep');
    // Assess
    expect(token.tokenType).toBe('Bearer');
    expect(token.expiryTimeUtc).toBeGreaterThan(token.refreshAfterTimeUtc ?? Infinity);
    expect(await score(endpoint.properties.scoringUri ?? '', token.accessToken ?? '')).toBe(200);
    expect(await score(`${em.url}/inference/${WS.workspace}/key-ep/score`, token.accessToken ?? '')).toBe(
      401,
    );
    await expect(
      client.onlineEndpoints.getToken(WS.resourceGroup, WS.workspace, 'key-ep'),
    ).rejects.toMatchObject({ statusCode: 400 });
  });

  it('scores an AADToken endpoint with an Entra token for https://ml.azure.com', async () => {
    // Act
    const entra = await credential.getToken('https://ml.azure.com/.default');
    const arm = await credential.getToken('https://management.azure.com/.default');
    // Assess
    expect(await score(`${em.url}/inference/${WS.workspace}/aad-ep/score`, entra.token)).toBe(200);
    expect(await score(`${em.url}/inference/${WS.workspace}/aad-ep/score`, arm.token)).toBe(401);
  });

  it('keeps accepting the replaced key until the new one has propagated', async () => {
    // Prepare
    const client = ml();
    const uri = `${em.url}/inference/${WS.workspace}/key-ep/score`;
    const old = em.control.keys({ ...WS, name: 'key-ep' }).primaryKey;
    // The poller waits Retry-After (whole seconds) before it sees completion, so propagation must outlast it.
    em.control.setKeyPropagationDelayMs(2000);
    // Act
    await client.onlineEndpoints.beginRegenerateKeysAndWait(
      WS.resourceGroup,
      WS.workspace,
      'key-ep',
      { keyType: 'Primary' },
      { updateIntervalInMs: 10 },
    );
    const fresh =
      (await client.onlineEndpoints.listKeys(WS.resourceGroup, WS.workspace, 'key-ep')).primaryKey ?? '';
    const early = [await score(uri, old), await score(uri, fresh)];
    await sleep(2000);
    const late = [await score(uri, old), await score(uri, fresh)];
    // Assess
    expect(fresh).not.toBe(old);
    expect(early).toEqual([200, 401]);
    expect(late).toEqual([401, 200]);
  });

  it('throttles writes with 429 and Retry-After, which the SDK honours', async () => {
    // Prepare
    const client = ml();
    em.control.setArmWriteThrottling({ capacity: 1, refillPerSecond: 2 });
    // Act
    await client.onlineEndpoints.listKeys(WS.resourceGroup, WS.workspace, 'key-ep');
    const started = Date.now();
    await client.onlineEndpoints.listKeys(WS.resourceGroup, WS.workspace, 'key-ep');
    // Assess
    expect(em.control.counters()['arm.throttled']).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('surfaces an ARM outage and a 404 for an unknown endpoint', async () => {
    // Prepare
    const client = ml();
    em.control.setFault('arm', { outage: true });
    // Act / Assess
    await expect(client.onlineEndpoints.get(WS.resourceGroup, WS.workspace, 'key-ep')).rejects.toThrow();
    em.control.clearFaults();
    await expect(client.onlineEndpoints.get(WS.resourceGroup, WS.workspace, 'nope')).rejects.toMatchObject({
      statusCode: 404,
      code: 'ResourceNotFound',
    });
  });
});

describe('Class: ArmEndpointDescriber against the ARM stand-in', () => {
  it('tells an endpoint ARM has from one being deleted or gone, online and serverless (a delete event is checked so)', async () => {
    // Prepare: built as the events module builds it, over the SDK and the serverless client's pipeline
    const client = ml();
    const serverless = serverlessKeys(client);
    const describer = new ArmEndpointDescriber({
      onlineEndpoints: () => client.onlineEndpoints,
      serverlessEndpoints: (arm) => serverless.describe({ arm }),
    });
    em.control.addOnlineEndpoint({ ...WS, name: 'doomed-ep', authMode: 'Key' });
    em.control.addServerlessEndpoint({ ...WS, name: 'llm-ep' });
    const at = (name: string) => ({ ...WS, name });

    // Act
    const live = await describer.exists('onlineEndpoint', at('doomed-ep'));
    const poller = await client.onlineEndpoints.beginDelete(WS.resourceGroup, WS.workspace, 'doomed-ep');
    const deleting = await describer.exists('onlineEndpoint', at('doomed-ep'));
    // Polled one request at a time: pollUntilDone pauses once more after the operation has ended, and
    // that 1-s timer (ARM's last Retry-After), pending as the file's last test returned, held Jest's exit.
    while (!poller.isDone()) {
      await sleep(50);
      await poller.poll();
    }
    const deleted = await describer.exists('onlineEndpoint', at('doomed-ep'));
    const serverlessLive = await describer.exists('serverlessEndpoint', at('llm-ep'));
    const serverlessGone = await describer.exists('serverlessEndpoint', at('no-such-llm'));
    const workspaceGone = await describer.exists('onlineEndpoint', { ...at('key-ep'), workspace: 'no-ws' });

    // Assess
    expect({ live, deleting, deleted }).toEqual({ live: true, deleting: false, deleted: false });
    expect({ serverlessLive, serverlessGone, workspaceGone }).toEqual({
      serverlessLive: true,
      serverlessGone: false,
      workspaceGone: false,
    });
  });
});

describe('Method: scoringUri (what npm start prints for the demo)', () => {
  it('names the scoring URI ARM answers for an online and a serverless endpoint, and refuses an unknown one', async () => {
    // Prepare
    const client = ml();
    const serverless = serverlessKeys(client);
    em.control.addServerlessEndpoint({ ...WS, name: 'scored-llm' });

    // Act
    const online = await client.onlineEndpoints.get(WS.resourceGroup, WS.workspace, 'token-ep');
    const described = await serverless.describe({ arm: { ...WS, name: 'scored-llm' } });

    // Assess
    expect(em.control.scoringUri({ ...WS, name: 'token-ep' })).toBe(online.properties.scoringUri);
    expect(em.control.scoringUri({ ...WS, name: 'scored-llm' })).toBe(described.scoringUri);
    expect(() => em.control.scoringUri({ ...WS, name: 'no-such-ep' })).toThrow(
      'no endpoint ws-sdk/no-such-ep',
    );
  });
});

describe('Method: restrictRoles', () => {
  let restricted: RunningEmulators;
  afterAll(async () => {
    await restricted.stop();
  });

  it('denies ARM and Key Vault actions that no granted role covers', async () => {
    // Prepare: a second emulator, because role enforcement cannot be switched off again.
    restricted = await withEmulators({ identityHeader: em.identityHeader });
    restricted.control.addOnlineEndpoint({ ...WS, name: 'key-ep', authMode: 'Key' });
    const token = async (resource: string): Promise<string> =>
      (
        (
          await call(`${restricted.identityEndpoint}?api-version=2019-08-01&resource=${resource}`, {
            headers: { 'x-identity-header': em.identityHeader },
          })
        ).json as { access_token: string }
      ).access_token;
    restricted.control.restrictRoles();
    restricted.control.grantRole(
      restricted.systemPrincipalId,
      `/subscriptions/${WS.subscriptionId}`,
      'Reader',
    );
    restricted.control.grantRole(restricted.systemPrincipalId, 'keyvault', 'Key Vault Secrets User');
    const armToken = await token('https://management.azure.com');
    const kvToken = await token('https://vault.azure.net');
    const base = `${restricted.url}/subscriptions/${WS.subscriptionId}/resourceGroups/${WS.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${WS.workspace}/onlineEndpoints/key-ep`;
    // Act
    const get = await call(`${base}?api-version=${API_VERSION}`, {
      headers: { authorization: `Bearer ${armToken}` },
    });
    const keys = await call(`${base}/listKeys?api-version=${API_VERSION}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${armToken}` },
    });
    const put = await call(`${restricted.url}/secrets/s1?api-version=7.6`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${kvToken}`, 'content-type': 'application/json' },
      body: '{"value":"x"}',
    });
    // Assess
    expect(get.status).toBe(200);
    expect(keys.status).toBe(403);
    expect(keys.json).toEqual({
      error: {
        code: 'AuthorizationFailed',
        message: `The client '${(JSON.parse(Buffer.from(armToken.split('.')[1] ?? '', 'base64url').toString()) as { appid: string }).appid}' with object id '${restricted.systemPrincipalId}' does not have authorization to perform action 'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/listKeys/action' over scope '${base.slice(restricted.url.length)}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      },
    });
    expect(put.status).toBe(403);
    expect(put.json).toMatchObject({ error: { code: 'Forbidden', innererror: { code: 'ForbiddenByRbac' } } });
  });
});
