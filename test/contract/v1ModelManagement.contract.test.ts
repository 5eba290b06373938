import type { RunningEmulators } from '../../local/emulators';
import { call, withEmulators } from '../support/emulators';
import { sleep } from '../support/waitFor';

/**
 * The v1 model-management stand-in answers in the shapes of the v1 API (modelManagement.json
 * 2019-09-30 and what azureml-core reads): AuthKeys, 202 + Operation-Location polled to a terminal
 * AsyncOperationStatus.state, AuthToken with epoch-second times, and the v1 auth rules.
 */
const WS = {
  subscriptionId: '00000000-0000-0000-0000-00000000c0de',
  resourceGroup: 'contract-rg',
  workspace: 'contract-ws',
};
let em: RunningEmulators;
let auth: Record<string, string>;
let base: string;

beforeAll(async () => {
  em = await withEmulators();
  em.control.addWorkspace({ ...WS, location: 'northeurope' });
  em.control.addV1Service({
    ...WS,
    name: 'aks-token',
    computeType: 'AKS',
    authEnabled: false,
    tokenAuthEnabled: true,
  });
  em.control.addV1Service({ ...WS, name: 'aks-key', computeType: 'AKS' });
  em.control.addV1Service({ ...WS, name: 'aci-key', computeType: 'ACI', authEnabled: true });
  em.control.addV1Service({ ...WS, name: 'aci-open', computeType: 'ACI' });
  const answer = await call(
    `${em.identityEndpoint}?api-version=2019-08-01&resource=https://management.azure.com`,
    { headers: { 'x-identity-header': em.identityHeader } },
  );
  auth = { authorization: `Bearer ${(answer.json as { access_token: string }).access_token}` };
  base = `${em.url}/mms/northeurope/modelmanagement/v1.0/subscriptions/${WS.subscriptionId}/resourceGroups/${WS.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${WS.workspace}`;
});

afterAll(async () => {
  await em.stop();
});

const post = (path: string, body?: unknown) =>
  call(`${base}/services/${path}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('Contract: v1 model-management stand-in', () => {
  it('describes services with computeType, authEnabled, aadAuthEnabled (AKS) and scoringUri', async () => {
    // Act
    const aks = await call(`${base}/services/aks-token`, { headers: auth });
    const aci = await call(`${base}/services/aci-open`, { headers: auth });
    // Assess: the v1 defaults — AKS key auth on unless turned off, ACI key auth off, token auth AKS only
    expect(aks.status).toBe(200);
    expect(aks.json).toMatchObject({
      name: 'aks-token',
      computeType: 'AKS',
      authEnabled: false,
      aadAuthEnabled: true,
    });
    expect((aks.json as { scoringUri: string }).scoringUri).toMatch(
      /^https:\/\/127\.0\.0\.1:\d+\/v1\/contract-ws\/aks-token\/score$/,
    );
    expect(aci.json).toMatchObject({ computeType: 'ACI', authEnabled: false });
    expect(aci.json).not.toHaveProperty('aadAuthEnabled');
    const aksKey = await call(`${base}/services/aks-key`, { headers: auth });
    expect(aksKey.json).toMatchObject({ authEnabled: true, aadAuthEnabled: false });
  });

  it('lists keys as AuthKeys and refuses key calls for a service with key auth off', async () => {
    // Act
    const keys = await post('aci-key/listkeys');
    const off = await post('aci-open/listkeys');
    // Assess
    expect(keys.status).toBe(200);
    expect(Object.keys(keys.json as object).sort()).toEqual(['primaryKey', 'secondaryKey']);
    expect(off.status).toBe(400);
    expect(off.json).toMatchObject({ code: 'BadRequest', statusCode: 400 });
  });

  it('answers regenerateKeys with 202 + Operation-Location, polled until Succeeded, then listkeys shows the new key', async () => {
    // Prepare
    const before = em.control.keys({ ...WS, name: 'aci-key' });
    // Act
    const accepted = await post('aci-key/regenerateKeys', { keyType: 'Secondary' });
    const location = accepted.headers.get('operation-location') ?? '';
    let state = '';
    for (let i = 0; i < 100 && state !== 'Succeeded'; i++) {
      const polled = await call(location, { headers: auth });
      expect(polled.status).toBe(200);
      state = (polled.json as { state: string }).state;
      expect(['NotStarted', 'Running', 'Succeeded']).toContain(state);
      if (state !== 'Succeeded') await sleep(50);
    }
    const after = (await post('aci-key/listkeys')).json as { primaryKey: string; secondaryKey: string };
    // Assess
    expect(accepted.status).toBe(202);
    expect(location.startsWith(`${base}/operations/`)).toBe(true);
    expect(state).toBe('Succeeded');
    expect(after.primaryKey).toBe(before.primaryKey);
    expect(after.secondaryKey).not.toBe(before.secondaryKey);
  });

  it('issues AuthToken (201, epoch seconds) for AKS token services only, and the token scores', async () => {
    // Act
    const issued = await post('aks-token/token');
    const onAci = await post('aci-key/token');
    const notEnabled = await post('aks-key/token');
    const body = issued.json as {
      accessToken: string;
      tokenType: string;
      expiryOn: number;
      refreshAfter: number;
    };
    const scored = await call(`${em.url}/v1/contract-ws/aks-token/score`, {
      method: 'POST',
      headers: { authorization: `Bearer ${body.accessToken}`, 'content-type': 'application/json' },
      body: '{"data":[[1,2]]}',
    });
    const refused = await call(`${em.url}/v1/contract-ws/aks-token/score`, { method: 'POST', body: '{}' });
    // Assess
    expect(issued.status).toBe(201);
    expect(body.tokenType).toBe('Bearer');
    const now = Date.now() / 1000;
    expect(body.expiryOn).toBeGreaterThan(now);
    expect(body.expiryOn).toBeLessThan(now + 10 * 86400);
    expect(body.refreshAfter).toBeLessThan(body.expiryOn);
    expect(onAci.status).toBe(400);
    expect(notEnabled.status).toBe(400);
    expect(scored.status).toBe(200);
    expect(scored.json).toEqual([3]);
    expect(refused.status).toBe(401);
  });

  it('needs an ARM-audience token, and a region outage hits only that region', async () => {
    // Act
    const anonymous = await call(`${base}/services/aci-key`);
    em.control.setFault('modelManagement', { status: 503 }, 'northeurope');
    const down = await call(`${base}/services/aci-key`, { headers: auth });
    em.control.setFault('modelManagement', undefined, 'northeurope');
    const back = await call(`${base}/services/aci-key`, { headers: auth });
    const wrongRegion = await call(base.replace('/mms/northeurope/', '/mms/westus/') + '/services/aci-key', {
      headers: auth,
    });
    // Assess
    expect(anonymous.status).toBe(401);
    expect(down.status).toBe(503);
    expect(down.json).toMatchObject({ statusCode: 503 });
    expect(back.status).toBe(200);
    expect(wrongRegion.status).toBe(404);
  });

  it('refuses v1 services the v1 SDK refuses to deploy (token auth on ACI, key and token auth together)', () => {
    expect(() =>
      em.control.addV1Service({ ...WS, name: 'bad1', computeType: 'ACI', tokenAuthEnabled: true }),
    ).toThrow(/only supported on AKS/);
    expect(() =>
      em.control.addV1Service({ ...WS, name: 'bad2', computeType: 'AKS', tokenAuthEnabled: true }),
    ).toThrow(/cannot both be enabled/);
  });
});
