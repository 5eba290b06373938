import { HttpRequest, type HttpResponseInit, InvocationContext } from '@azure/functions';

import { manageEndpointHandler } from '../../functions/manageEndpoint';
import { manageEndpointsHandler } from '../../functions/manageEndpoints';
import { type RunningAzurite, startAzurite } from '../../local/azurite';
import type { RunningEmulators } from '../../local/emulators';
import { loadConfig } from '../../shared/config';
import { Services } from '../../shared/services';
import { standInSettings, useEmulatorIdentity, withEmulators } from '../support/emulators';

/**
 * The admin API's registration against the real ARM SDK, the ARM stand-in and the endpoint registry on
 * Azurite: `POST /api/manage/endpoints` (and a `PATCH` that moves an endpoint) reads the endpoint at ARM
 * before anything is written. Needs NODE_EXTRA_CA_CERTS (set by the runner).
 */
const SUB = '00000000-0000-0000-0000-0000000000c1';
/** A subscription the app's identity holds no role in (the stand-in enforces roles from the start). */
const SUB_DENIED = '00000000-0000-0000-0000-0000000000c2';
const WS = { subscriptionId: SUB, resourceGroup: 'rg-check', workspace: 'ws-check' };
const armId = (kind: string, name: string, ws: typeof WS = WS) =>
  `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspace}/${kind}/${name}`;

jest.setTimeout(60_000);

describe('Admin API: a registration reads the endpoint at ARM first (local stack)', () => {
  let emulators: RunningEmulators;
  let azurite: RunningAzurite;
  let services: Services;
  let restoreEnv: () => void = () => undefined;

  beforeAll(async () => {
    [emulators, azurite] = await Promise.all([withEmulators(), startAzurite()]);
    restoreEnv = useEmulatorIdentity(emulators);
    const { control } = emulators;
    control.addWorkspace(WS);
    control.addOnlineEndpoint({ ...WS, name: 'ck-key', authMode: 'Key' });
    control.addOnlineEndpoint({ ...WS, name: 'ck-key-2', authMode: 'Key' });
    control.addOnlineEndpoint({ ...WS, name: 'ck-token', authMode: 'AMLToken' });
    control.addOnlineEndpoint({ ...WS, name: 'ck-aad', authMode: 'AADToken' });
    control.addServerlessEndpoint({ ...WS, name: 'ck-serverless', authMode: 'Key' });
    // Each registered at most once with the auth mode ARM shows: an endpoint is registered under one id only.
    control.addOnlineEndpoint({ ...WS, name: 'ck-mm-aad', authMode: 'AADToken' });
    control.addOnlineEndpoint({ ...WS, name: 'ck-mm-token', authMode: 'AMLToken' });
    control.addServerlessEndpoint({ ...WS, name: 'ck-mm-serverless', authMode: 'Key' });
    control.addOnlineEndpoint({ ...WS, name: 'ck-mm-patch', authMode: 'AADToken' });
    control.addOnlineEndpoint({ ...WS, subscriptionId: SUB_DENIED, name: 'ck-denied', authMode: 'Key' });
    control.restrictRoles();
    control.grantRole(emulators.systemPrincipalId, `/subscriptions/${SUB}`, 'Owner');
    control.grantRole(emulators.systemPrincipalId, 'keyvault', 'Key Vault Secrets Officer');
    services = new Services(loadConfig(standInSettings(emulators, azurite, 'chk')));
  });

  afterEach(() => emulators.control.clearFaults());

  afterAll(async () => {
    await services?.close();
    await Promise.all([emulators?.stop(), azurite?.stop()]);
    restoreEnv();
  });

  const send = (method: string, id: string | undefined, body?: unknown): Promise<HttpResponseInit> => {
    const request = new HttpRequest({
      method,
      url: `http://localhost:7071/api/manage/endpoints${id ? `/${id}` : ''}`,
      headers: { 'content-type': 'application/json' },
      params: id ? { id } : {},
      ...(body !== undefined ? { body: { string: JSON.stringify(body) } } : {}),
    });
    const context = new InvocationContext({ invocationId: 'inv-check', logHandler: () => undefined });
    const admin = { admin: services.rotation.admin };
    return id
      ? manageEndpointHandler(() => admin)(request, context)
      : manageEndpointsHandler(() => admin)(request, context);
  };
  const register = (body: Record<string, unknown>) => send('POST', undefined, body);
  const problemOf = (response: HttpResponseInit) =>
    JSON.parse(response.body as string) as { code: string; detail: string; errors?: { field: string }[] };
  const stored = (id: string) => services.rotation.registry.get(id);

  it('answers 201 for a Key endpoint ARM has, and for a token endpoint with its auth mode', async () => {
    // Act
    const key = await register({ id: 'ck-key', arm: { ...WS, name: 'ck-key' } });
    const token = await register({ id: 'ck-token', arm: { ...WS, name: 'ck-token' }, authMode: 'AMLToken' });
    const serverless = await register({
      id: 'ck-serverless',
      kind: 'serverlessEndpoint',
      arm: { ...WS, name: 'ck-serverless' },
    });

    // Assess
    expect([key.status, token.status, serverless.status]).toEqual([201, 201, 201]);
  });

  it('refuses an endpoint name ARM does not know with 422 AZURE_ENDPOINT_NOT_FOUND, naming the ARM id, and writes nothing', async () => {
    // Act: a typo in arm.name
    const response = await register({ id: 'ck-typo', arm: { ...WS, name: 'ck-kye' } });

    // Assess
    expect(response.status).toBe(422);
    const problem = problemOf(response);
    expect(problem.code).toBe('AZURE_ENDPOINT_NOT_FOUND');
    expect(problem.detail).toContain(armId('onlineEndpoints', 'ck-kye'));
    expect(problem.errors?.map((e) => e.field)).toEqual(['arm.workspace', 'arm.name']);
    expect(await stored('ck-typo')).toBeUndefined();
  });

  it('refuses an endpoint in a workspace ARM does not know, and a serverless one of another kind', async () => {
    // Act
    const workspace = await register({ id: 'ck-ws', arm: { ...WS, workspace: 'ws-chekc', name: 'ck-key' } });
    const kind = await register({
      id: 'ck-kind',
      kind: 'serverlessEndpoint',
      arm: { ...WS, name: 'ck-key' },
    });

    // Assess
    expect([workspace.status, kind.status]).toEqual([422, 422]);
    expect(problemOf(workspace).detail).toContain(
      armId('onlineEndpoints', 'ck-key', { ...WS, workspace: 'ws-chekc' }),
    );
    expect(problemOf(kind).detail).toContain(armId('serverlessEndpoints', 'ck-key'));
    expect(await stored('ck-ws')).toBeUndefined();
    expect(await stored('ck-kind')).toBeUndefined();
  });

  it('refuses a Key registration of an endpoint ARM shows with token auth (422 AUTH_MODE_NOT_KEY)', async () => {
    // Act
    const response = await register({ id: 'ck-aad-as-key', arm: { ...WS, name: 'ck-aad' } });

    // Assess
    expect(response.status).toBe(422);
    expect(problemOf(response).code).toBe('AUTH_MODE_NOT_KEY');
    expect(problemOf(response).detail).toContain('AADToken');
    expect(await stored('ck-aad-as-key')).toBeUndefined();
  });

  it('refuses a token registration whose auth mode ARM does not show (422 AUTH_MODE_MISMATCH naming both and authMode)', async () => {
    // Act: AML tokens for an Entra ID endpoint (ARM's /token refuses it), Entra ID tokens for an AML-token
    // endpoint (its scoring URI refuses them), AML tokens for a serverless endpoint (which issues none)
    const amlForAad = await register({
      id: 'ck-aml-aad',
      arm: { ...WS, name: 'ck-aad' },
      authMode: 'AMLToken',
    });
    const aadForAml = await register({
      id: 'ck-aad-aml',
      arm: { ...WS, name: 'ck-mm-token' },
      authMode: 'AADToken',
    });
    const amlServerless = await register({
      id: 'ck-aml-serverless',
      kind: 'serverlessEndpoint',
      arm: { ...WS, name: 'ck-mm-serverless' },
      authMode: 'AMLToken',
    });

    // Assess
    expect([amlForAad.status, aadForAml.status, amlServerless.status]).toEqual([422, 422, 422]);
    for (const response of [amlForAad, aadForAml, amlServerless]) {
      expect(problemOf(response).code).toBe('AUTH_MODE_MISMATCH');
      expect(problemOf(response).errors?.map((e) => e.field)).toEqual(['authMode']);
    }
    expect(problemOf(amlForAad).detail).toMatch(/AMLToken.*AADToken/);
    expect(problemOf(aadForAml).detail).toMatch(/AADToken.*AMLToken/);
    expect(problemOf(amlServerless).detail).toMatch(/AMLToken.*Key/);
    expect(await stored('ck-aml-aad')).toBeUndefined();
    expect(await stored('ck-aad-aml')).toBeUndefined();
    expect(await stored('ck-aml-serverless')).toBeUndefined();
  });

  it('refuses a PATCH that gives an endpoint a token auth mode ARM does not show, and keeps it as it was', async () => {
    // Prepare
    const registered = await register({
      id: 'ck-aad-ok',
      arm: { ...WS, name: 'ck-mm-patch' },
      authMode: 'AADToken',
    });

    // Act
    const response = await send('PATCH', 'ck-aad-ok', { authMode: 'AMLToken' });

    // Assess
    expect(registered.status).toBe(201);
    expect(response.status).toBe(422);
    expect(problemOf(response).code).toBe('AUTH_MODE_MISMATCH');
    expect(await stored('ck-aad-ok')).toMatchObject({ authMode: 'AADToken' });
  });

  it('names the permission the app lacks when ARM answers 403, and writes nothing', async () => {
    // Act
    const response = await register({
      id: 'ck-denied',
      arm: { ...WS, subscriptionId: SUB_DENIED, name: 'ck-denied' },
    });

    // Assess
    expect(response.status).toBe(422);
    const problem = problemOf(response);
    expect(problem.code).toBe('AZURE_ENDPOINT_READ_FORBIDDEN');
    expect(problem.detail).toContain('Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read');
    expect(problem.detail).toContain(
      armId('onlineEndpoints', 'ck-denied', { ...WS, subscriptionId: SUB_DENIED }),
    );
    expect(await stored('ck-denied')).toBeUndefined();
  });

  it('answers 503 with Retry-After while ARM is down, and writes nothing', async () => {
    // Prepare
    emulators.control.setFault('arm', { status: 503, retryAfterSeconds: 1 });

    // Act
    const response = await register({ id: 'ck-key-2', arm: { ...WS, name: 'ck-key-2' } });

    // Assess
    expect(response.status).toBe(503);
    expect((response.headers as Record<string, string>)['retry-after']).toMatch(/^\d+$/);
    expect(await stored('ck-key-2')).toBeUndefined();
  });

  it('reads ARM on a PATCH that moves the endpoint, not on one that leaves it where it is', async () => {
    // Act: a move to a name ARM does not know; then, with ARM down, a change of the period only
    const moved = await send('PATCH', 'ck-key', { arm: { name: 'ck-missing' } });
    emulators.control.setFault('arm', { status: 503, retryAfterSeconds: 1 });
    const period = await send('PATCH', 'ck-key', { rotationPeriodHours: 200 });

    // Assess
    expect(moved.status).toBe(422);
    expect(problemOf(moved).code).toBe('AZURE_ENDPOINT_NOT_FOUND');
    expect(period.status).toBe(200);
    expect(await stored('ck-key')).toMatchObject({
      arm: { name: 'ck-key' },
      rotationPeriodHours: 200,
    });
  });
});
