import { HttpRequest } from '@azure/functions';

import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { validateEndpoint } from '../../../shared/endpoints/validateEndpoint';
import { ValidationError } from '../../../shared/errors';
import { V1WebServiceKeyClient } from '../../../shared/rotation/adapters/V1WebServiceKeyClient';
import { type MmsResponse, ModelManagementClient } from '../../../shared/v1/ModelManagementClient';
import { V1RuleError } from '../../../shared/v1/v1Rules';
import { buildTestBroker } from '../../fakes/broker/buildTestBroker';
import { testEndpoint } from '../../fakes/broker/InMemoryEndpointLookup';

const RULES = { defaultPeriodHours: 720, defaultGraceHours: 25, minGraceHours: 24 };
const NOW = '2026-11-23T00:00:00.000Z';
const ARM = { subscriptionId: 'sub-1', resourceGroup: 'rg', workspace: 'ws1', name: 'svc' };

/** A key client over an MMS that answers `GET services/{name}` with `service` (what the wire carries). */
function keyClientFor(service: Record<string, unknown>): V1WebServiceKeyClient {
  const sender = {
    sendRequest: async (): Promise<MmsResponse> => ({
      status: 200,
      bodyAsText: JSON.stringify({ scoringUri: 'https://svc/score', ...service }),
      headers: { get: () => undefined },
    }),
  };
  return new V1WebServiceKeyClient(
    new ModelManagementClient({
      sender,
      hostTemplate: 'https://{region}.api.azureml.ms',
      sleep: async () => {},
    }),
  );
}

function v1Endpoint(computeType: 'AKS' | 'ACI', authMode: 'Key' | 'AMLToken' = 'Key'): ManagedEndpoint {
  return validateEndpoint(
    { id: 'svc-1', kind: 'v1WebService', arm: ARM, authMode, v1: { computeType, region: 'westeurope' } },
    RULES,
    NOW,
  );
}

/** A token request through the OAuth protocol for a v1 endpoint whose service reports `flags`. */
async function oauthTokenFor(
  computeType: 'AKS' | 'ACI',
  flags: { authEnabled: boolean; tokenAuthEnabled: boolean },
): Promise<{ status: number; body: Record<string, string> }> {
  const t = buildTestBroker();
  t.endpoints.add(
    testEndpoint('legacy-svc', 'AMLToken', {
      kind: 'v1WebService',
      v1: { computeType, region: 'westeurope' },
    }),
  );
  t.v1Services.set('legacy-svc', { computeType, ...flags });
  const c = await t.addClient({ allowedScopes: ['legacy-svc'] });
  const reply = await t.module.oauth.handle(
    new HttpRequest({
      method: 'POST',
      url: 'http://localhost/api/oauth2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: {
        string: `grant_type=client_credentials&client_id=${c.id}&client_secret=${c.primary}&scope=legacy-svc`,
      },
    }),
  );
  expect(t.v1.calls).toBe(0);
  return { status: reply.status ?? 0, body: JSON.parse(reply.body as string) as Record<string, string> };
}

/** Validates a v1 web service registration named `name` on `computeType`. */
function validateV1Named(name: string, computeType: 'ACI' | 'AKS'): ManagedEndpoint {
  return validateEndpoint(
    { id: 'svc-1', kind: 'v1WebService', arm: { ...ARM, name }, v1: { computeType, region: 'westeurope' } },
    RULES,
    NOW,
  );
}

describe('v1 rules, one test each', () => {
  it('AKS services have key auth on by default: an AKS service that does not say is rotatable', async () => {
    // Act
    const described = await keyClientFor({ computeType: 'AKS' }).describe(v1Endpoint('AKS'));
    // Assess
    expect(described).toEqual({ authMode: 'Key', scoringUri: 'https://svc/score' });
  });

  it('ACI services have key auth off by default: rotating one that does not say is a 422 naming the rule', async () => {
    // Act
    const rotation = keyClientFor({ computeType: 'ACI' }).describe(v1Endpoint('ACI'));
    // Assess
    await expect(rotation).rejects.toThrow(V1RuleError);
    await expect(rotation).rejects.toMatchObject({ status: 422, code: 'V1_KEY_AUTH_DISABLED' });
    await expect(rotation).rejects.toThrow(/ACI services have key auth off by default.*auth_enabled=True/);
  });

  it('a key-rotation request for a service with key auth turned off is a 422 naming the rule', async () => {
    // Act
    const rotation = keyClientFor({ computeType: 'AKS', authEnabled: false, aadAuthEnabled: true }).describe(
      v1Endpoint('AKS'),
    );
    // Assess
    await expect(rotation).rejects.toMatchObject({ status: 422, code: 'V1_KEY_AUTH_DISABLED' });
  });

  it('token auth exists only on AKS: registering an ACI service for tokens is a 400, and a token request for one is refused', async () => {
    // Act
    const registering = () => v1Endpoint('ACI', 'AMLToken');
    const token = await oauthTokenFor('ACI', { authEnabled: true, tokenAuthEnabled: false });
    // Assess
    expect(registering).toThrow(ValidationError);
    expect(registering).toThrow(/authMode: token auth exists only on AKS/);
    expect(token.status).toBe(400);
    expect(token.body).toMatchObject({ error: 'invalid_scope' });
    expect(token.body['error_description']).toContain('V1_TOKEN_AUTH_AKS_ONLY');
  });

  it('token auth is off by default on AKS: a token request for an AKS service without it is refused, naming the rule', async () => {
    // Act
    const token = await oauthTokenFor('AKS', { authEnabled: true, tokenAuthEnabled: false });
    // Assess
    expect(token.status).toBe(400);
    expect(token.body['error_description']).toContain('V1_TOKEN_AUTH_DISABLED');
    expect(token.body['error_description']).toContain('token_auth_enabled=True');
  });

  it('key auth and token auth cannot be on together: a service reporting both is refused for keys and tokens', async () => {
    // Act
    const rotation = keyClientFor({ computeType: 'AKS', authEnabled: true, aadAuthEnabled: true }).describe(
      v1Endpoint('AKS'),
    );
    const token = await oauthTokenFor('AKS', { authEnabled: true, tokenAuthEnabled: true });
    // Assess
    await expect(rotation).rejects.toMatchObject({ status: 422, code: 'V1_KEY_AND_TOKEN_AUTH_EXCLUSIVE' });
    expect(token.status).toBe(400);
    expect(token.body['error_description']).toContain('V1_KEY_AND_TOKEN_AUTH_EXCLUSIVE');
  });

  it('v1 services take Key or AMLToken only, and the v1 block is required for (and only for) v1 services', () => {
    // Act
    const attempt = (input: Record<string, unknown>) => () => validateEndpoint(input, RULES, NOW);
    // Assess
    expect(
      attempt({
        id: 'svc-1',
        kind: 'v1WebService',
        arm: ARM,
        authMode: 'AADToken',
        v1: { computeType: 'AKS', region: 'westeurope' },
      }),
    ).toThrow(/authMode: v1 web services support Key/);
    expect(attempt({ id: 'svc-1', kind: 'v1WebService', arm: ARM })).toThrow(
      /v1: an object with computeType/,
    );
    expect(
      attempt({
        id: 'svc-1',
        kind: 'v1WebService',
        arm: ARM,
        v1: { computeType: 'VM', region: 'West Europe' },
      }),
    ).toThrow(/v1.computeType: one of AKS, ACI; v1.region: an Azure region name/);
    expect(attempt({ id: 'svc-1', arm: ARM, v1: { computeType: 'AKS', region: 'westeurope' } })).toThrow(
      /v1: only for kind v1WebService/,
    );
  });

  it.each(['Churn-ACI', 'churn_aci', 'ab', '1churn', 'churn-', 'c'.repeat(33)])(
    'a v1 service name the v1 SDK cannot deploy (%s) is refused at registration, naming the rule',
    (name) => {
      // Act
      const attempt = () => validateV1Named(name, 'ACI');
      // Assess: webservice_name_validation in azureml-core
      expect(attempt).toThrow(ValidationError);
      expect(attempt).toThrow(/arm\.name: a v1 web service name/);
    },
  );

  it('a v1 service name the v1 SDK deploys is accepted, and v2 names keep their own rule', () => {
    for (const name of ['abc', 'churn-aci-2', 'c'.repeat(32)])
      expect(validateV1Named(name, 'AKS').arm.name).toBe(name);
    expect(
      validateEndpoint({ id: 'svc-1', arm: { ...ARM, name: 'Churn_Online' } }, RULES, NOW).arm.name,
    ).toBe('Churn_Online');
  });

  it('a service on another compute type than registered is refused for rotation', async () => {
    // Act
    const rotation = keyClientFor({ computeType: 'AKS', authEnabled: true }).describe(v1Endpoint('ACI'));
    // Assess
    await expect(rotation).rejects.toMatchObject({ code: 'V1_COMPUTE_TYPE_MISMATCH' });
  });
});
