import type { RunningEmulators } from '../../local/emulators';
import { call, withEmulators } from '../support/emulators';
import { sleep } from '../support/waitFor';
import {
  type Actual,
  fixture,
  headerMismatches,
  type RecordedEntry,
  Replayer,
  shapeMismatches,
} from './replay';

const RECORDING =
  'machinelearning/online-endpoint-update-get-token-score-delete-python-recording-excerpt.json';
const DICTIONARIES = new Set([
  'properties.properties',
  'properties.traffic',
  'properties.mirrorTraffic',
  'identity.userAssignedIdentities',
  'properties.environmentVariables',
  'properties.inferenceEndpoint.headers',
  'value[].properties.properties',
  'value[].properties.environmentVariables',
]);

let em: RunningEmulators;
let armToken: string;

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
}

beforeAll(async () => {
  em = await withEmulators();
  em.control.setRegenerateDelayMs(0);
  const answer = await call(
    `${em.identityEndpoint}?api-version=2019-08-01&resource=https://management.azure.com`,
    { headers: { 'x-identity-header': em.identityHeader } },
  );
  armToken = (answer.json as { access_token: string }).access_token;
});

afterAll(async () => {
  await em.stop();
});

describe('Contract: ARM Azure ML stand-in replays the recorded update/get/token/score/delete exchange', () => {
  it('answers every recorded step with the recorded status, LRO headers and body shape', async () => {
    // Prepare: the recording starts with the endpoint already there (it was created earlier in the session).
    // It polls once while the update still runs: on a loaded machine a 100 ms operation can finish before
    // that poll arrives, so the replayed operation runs long enough to be seen running.
    em.control.setLifecycleDelayMs(2_000);
    const { Entries } = fixture<{ Entries: RecordedEntry[] }>(RECORDING);
    const ws = {
      subscriptionId: '00000000-0000-0000-0000-000000000',
      resourceGroup: '00000',
      workspace: '00000',
    };
    em.control.addOnlineEndpoint({ ...ws, name: 'online-ept-10cd4ed17147449', authMode: 'AMLToken' });
    let amlToken = '';
    const replayer = new Replayer({ 'https://management.azure.com': em.url }, (_entry, url) =>
      url.includes('/inference/') ? `Bearer ${amlToken}` : `Bearer ${armToken}`,
    );
    for (const [i, entry] of Entries.entries()) {
      // Act: a client polls a status URL until it is terminal; do the same where the recording shows a terminal status.
      let actual: Actual = await replayer.send(entry);
      const recordedStatus = (entry.ResponseBody as { status?: string } | null)?.status;
      const deadline = Date.now() + 20_000;
      while (
        recordedStatus === 'Succeeded' &&
        (actual.json as { status?: string }).status !== 'Succeeded' &&
        Date.now() < deadline
      ) {
        await sleep(100);
        actual = await replayer.send(entry);
      }
      if (entry.RequestUri.endsWith('/token?api-version=2022-02-01-preview'))
        amlToken = (actual.json as { accessToken: string }).accessToken;
      // Assess
      const label = `#${i} ${entry.RequestMethod} ${entry.RequestUri.split('?')[0]?.split('/').slice(-2).join('/')}`;
      expect({ label, status: actual.status }).toEqual({ label, status: entry.StatusCode });
      expect({ label, headers: headerMismatches(entry.ResponseHeaders, actual.headers) }).toEqual({
        label,
        headers: [],
      });
      // The python recorder kept some bodies as text ("null", a JSON list): compare what that text parses to.
      const recorded =
        typeof entry.ResponseBody === 'string'
          ? (JSON.parse(entry.ResponseBody) as unknown)
          : entry.ResponseBody;
      const body = shapeMismatches(recorded, actual.json, { map: replayer.map, dictionaries: DICTIONARIES });
      expect({ label, body }).toEqual({ label, body: [] });
      if (amlToken && entry.RequestUri.includes('/token?')) {
        // Same claim names as the real AML token.
        const recordedClaims = claimsOf((entry.ResponseBody as { accessToken: string }).accessToken);
        expect(Object.keys(claimsOf(amlToken)).sort()).toEqual(Object.keys(recordedClaims).sort());
      }
    }
  });
});

interface SpecExample {
  parameters: Record<string, unknown>;
  responses: Record<string, { headers?: Record<string, string>; body?: unknown }>;
}

const SPEC: Array<{
  file: string;
  method: string;
  path: (p: Record<string, string>) => string;
  optional?: string[];
}> = [
  {
    file: 'restspec-2025-12-01-online-endpoint-get.json',
    method: 'GET',
    path: (p) => `onlineEndpoints/${p.endpointName}`,
    optional: ['sku', 'identity.userAssignedIdentities'],
  },
  {
    file: 'restspec-2025-12-01-online-endpoint-getToken.json',
    method: 'POST',
    path: (p) => `onlineEndpoints/${p.endpointName}/token`,
  },
  {
    file: 'restspec-2022-10-01-online-endpoint-listKeys.json',
    method: 'POST',
    path: (p) => `onlineEndpoints/${p.endpointName}/listKeys`,
  },
  {
    file: 'restspec-2025-12-01-online-endpoint-regenerateKeys.json',
    method: 'POST',
    path: (p) => `onlineEndpoints/${p.endpointName}/regenerateKeys`,
  },
  {
    file: 'restspec-2025-12-01-managed-online-deployment-get.json',
    method: 'GET',
    path: (p) => `onlineEndpoints/${p.endpointName}/deployments/${p.deploymentName}`,
    optional: ['identity', 'sku.size', 'sku.family'],
  },
  {
    file: 'restspec-2025-12-01-serverless-endpoint-get.json',
    method: 'GET',
    path: (p) => `serverlessEndpoints/${p.name}`,
    optional: [
      'identity',
      'properties.contentSafety.contentSafetyLevel',
      'sku.capacity',
      'sku.family',
      'sku.size',
      'sku.tier',
    ],
  },
  {
    file: 'restspec-2025-12-01-serverless-endpoint-listKeys.json',
    method: 'POST',
    path: (p) => `serverlessEndpoints/${p.name}/listKeys`,
  },
  {
    file: 'restspec-2025-12-01-serverless-endpoint-regenerateKeys.json',
    method: 'POST',
    path: (p) => `serverlessEndpoints/${p.name}/regenerateKeys`,
  },
];

describe('Contract: ARM Azure ML stand-in answers the documented REST-spec examples', () => {
  beforeAll(async () => {
    // The examples' coordinates; the deployment example needs a deployment, which a PUT with traffic creates
    // (an operation of zero length completes on the next request, whatever the machine's load).
    em.control.setLifecycleDelayMs(0);
    const ws = {
      subscriptionId: '00000000-1111-2222-3333-444444444444',
      resourceGroup: 'test-rg',
      workspace: 'my-aml-workspace',
    };
    em.control.addWorkspace(ws);
    em.control.addServerlessEndpoint({ ...ws, name: 'string' });
    const base = `${em.url}/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspace}`;
    const put = await call(`${base}/onlineEndpoints/testEndpointName?api-version=2025-12-01`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${armToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        location: 'westeurope',
        properties: { authMode: 'AMLToken', traffic: { testDeploymentName: 100 } },
      }),
    });
    expect(put.status).toBe(201);
  });

  it.each(SPEC)('$file', async ({ file, method, path, optional }) => {
    // Prepare
    const example = fixture<SpecExample>(`machinelearning/${file}`);
    const p = example.parameters as Record<string, string>;
    const url = `${em.url}/subscriptions/${p.subscriptionId}/resourceGroups/${p.resourceGroupName}/providers/Microsoft.MachineLearningServices/workspaces/${p.workspaceName}/${path(p)}?api-version=${p['api-version']}`;
    const body = example.parameters.body;
    // Act
    const actual = await call(url, {
      method,
      headers: {
        authorization: `Bearer ${armToken}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    // Assess: one of the documented responses, its headers, and its body's fields (examples hold placeholders, so types only).
    const documented = example.responses[String(actual.status)];
    expect({ status: actual.status, documented: Object.keys(example.responses) }).toEqual({
      status: actual.status,
      documented: expect.arrayContaining([String(actual.status)]) as unknown,
    });
    expect(headerMismatches(documented?.headers ?? {}, actual.headers)).toEqual([]);
    const exact = new Set(['authMode', 'endpointComputeType', 'scaleType']);
    expect(
      shapeMismatches(documented?.body ?? null, actual.json ?? null, {
        dictionaries: DICTIONARIES,
        optional: new Set(optional),
        exact,
      }),
    ).toEqual([]);
  });
});

describe('Contract: ARM Azure ML stand-in errors', () => {
  it('answers ARM error bodies for a missing token, an unknown endpoint and /token on a Key endpoint', async () => {
    // Prepare
    const ws = { subscriptionId: 'sub-err', resourceGroup: 'rg', workspace: 'ws' };
    em.control.addOnlineEndpoint({ ...ws, name: 'key-ep', authMode: 'Key' });
    const base = `${em.url}/subscriptions/sub-err/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints`;
    const auth = { authorization: `Bearer ${armToken}` };
    // Act
    const anonymous = await call(`${base}/key-ep?api-version=2024-10-01`);
    const unknown = await call(`${base}/nope?api-version=2024-10-01`, { headers: auth });
    const token = await call(`${base}/key-ep/token?api-version=2024-10-01`, {
      method: 'POST',
      headers: auth,
    });
    const noVersion = await call(`${base}/key-ep`, { headers: auth });
    // Assess
    expect([anonymous.status, unknown.status, token.status, noVersion.status]).toEqual([401, 404, 400, 400]);
    expect(anonymous.json).toEqual({
      error: {
        code: 'AuthenticationFailed',
        message: "Authentication failed. The 'Authorization' header is missing.",
      },
    });
    expect(unknown.json).toEqual({
      error: {
        code: 'ResourceNotFound',
        message:
          "The Resource 'Microsoft.MachineLearningServices/workspaces/ws/onlineEndpoints/nope' under resource group 'rg' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
      },
    });
    expect(token.json).toMatchObject({ error: { code: 'UserError' } });
    expect(noVersion.json).toMatchObject({ error: { code: 'MissingApiVersionParameter' } });
  });

  it('refuses an api-version in which the provider has no such resource type with 400 NoRegisteredProviderFound', async () => {
    // Prepare: one ML_API_VERSION serves both kinds; serverless endpoints exist from 2023-08-01-preview and
    // 2024-04-01 on (not in 2023-10-01), online endpoints from 2021-03-01-preview and 2022-05-01 on.
    const ws = { subscriptionId: 'sub-ver', resourceGroup: 'rg', workspace: 'ws' };
    em.control.addOnlineEndpoint({ ...ws, name: 'online', authMode: 'Key' });
    em.control.addServerlessEndpoint({ ...ws, name: 'serverless' });
    const base = `${em.url}/subscriptions/sub-ver/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws`;
    const status = async (path: string, apiVersion: string, method = 'GET'): Promise<number> =>
      (
        await call(`${base}/${path}?api-version=${apiVersion}`, {
          method,
          headers: { authorization: `Bearer ${armToken}` },
        })
      ).status;
    // Act
    const serverlessTooOld = await call(
      `${base}/serverlessEndpoints/serverless/listKeys?api-version=2023-10-01`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${armToken}` },
      },
    );
    const answers = [
      await status('serverlessEndpoints/serverless', '2024-04-01'),
      await status('serverlessEndpoints/serverless', '2023-08-01-preview'),
      await status('onlineEndpoints/online', '2023-10-01'),
      await status('onlineEndpoints/online', '2022-02-01-preview'),
      await status('onlineEndpoints/online', '2021-07-01'),
      await status('onlineEndpoints/online', '2025-13-01'),
      await status('onlineEndpoints/online', 'latest'),
    ];
    // Assess
    expect(serverlessTooOld.status).toBe(400);
    expect(serverlessTooOld.json).toMatchObject({
      error: {
        code: 'NoRegisteredProviderFound',
        message: expect.stringContaining(
          "API version '2023-10-01' for type 'workspaces/serverlessEndpoints'",
        ) as unknown,
      },
    });
    expect(answers).toEqual([200, 200, 200, 200, 400, 400, 400]);
  });
});

describe('Contract: ARM Azure ML stand-in runs serverless regenerateKeys as a long-running operation', () => {
  it('answers 202 with Azure-AsyncOperation, Location and Retry-After, changes the key at completion and gives the keys as the operation result', async () => {
    // Prepare: the 2024-04-01 example's 202 has a Location at mfeOperationResults, the 2025-12-01 one an
    // Azure-AsyncOperation; the operation (ArmResourceActionAsync, final-state-via location) ends with EndpointAuthKeys.
    const ws = { subscriptionId: 'sub-sls-lro', resourceGroup: 'rg', workspace: 'ws' };
    em.control.addServerlessEndpoint({ ...ws, name: 'sls' });
    const before = em.control.keys({ ...ws, name: 'sls' });
    const base = `${em.url}/subscriptions/${ws.subscriptionId}/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/serverlessEndpoints/sls`;
    const auth = { authorization: `Bearer ${armToken}` };
    em.control.setRegenerateDelayMs(1_000);
    try {
      // Act
      const accepted = await call(`${base}/regenerateKeys?api-version=2025-12-01`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ keyType: 'Secondary', keyValue: 'serverless-lro-secondary-0123456789' }),
      });
      const duringKeys = em.control.keys({ ...ws, name: 'sls' });
      const statusUrl = accepted.headers.get('azure-asyncoperation') ?? '';
      const resultUrl = accepted.headers.get('location') ?? '';
      const running = await call(resultUrl, { headers: auth });
      let status = await call(statusUrl, { headers: auth });
      const deadline = Date.now() + 20_000;
      while ((status.json as { status?: string }).status !== 'Succeeded' && Date.now() < deadline) {
        await sleep(100);
        status = await call(statusUrl, { headers: auth });
      }
      const result = await call(resultUrl, { headers: auth });
      // Assess
      expect(accepted.status).toBe(202);
      expect(accepted.text).toBe('');
      expect(statusUrl).toContain('/mfeOperationsStatus/');
      expect(resultUrl).toContain('/mfeOperationResults/');
      expect(accepted.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(duringKeys).toEqual(before);
      expect(running.status).toBe(202);
      expect((status.json as { status?: string }).status).toBe('Succeeded');
      expect(result.status).toBe(200);
      expect(result.json).toEqual({
        primaryKey: before.primaryKey,
        secondaryKey: 'serverless-lro-secondary-0123456789',
      });
      expect(em.control.keys({ ...ws, name: 'sls' })).toEqual(result.json);
    } finally {
      em.control.setRegenerateDelayMs(0);
    }
  });
});
