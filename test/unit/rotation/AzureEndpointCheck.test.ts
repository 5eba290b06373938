import { untilAborted } from '../../../shared/clock';
import type { ManagedEndpoint } from '../../../shared/endpoints/ManagedEndpoint';
import { DEFAULT_PROBE } from '../../../shared/endpoints/validateProbe';
import { DependencyUnavailableError } from '../../../shared/errors';
import {
  ArmEndpointKeyClient,
  type OnlineEndpointOperations,
} from '../../../shared/rotation/adapters/ArmEndpointKeyClient';
import { AzureEndpointCheck } from '../../../shared/rotation/AzureEndpointCheck';
import {
  AuthModeMismatchError,
  AuthModeNotKeyError,
  AzureEndpointNotFoundError,
  AzureEndpointReadForbiddenError,
} from '../../../shared/rotation/errors';
import { neverEnds } from '../../fakes/sleeps';

const arm = { subscriptionId: 'sub-1', resourceGroup: 'rg-ml', workspace: 'ws-one', name: 'ep-1' };
const ARM_ID =
  '/subscriptions/sub-1/resourceGroups/rg-ml/providers/Microsoft.MachineLearningServices/workspaces/ws-one/onlineEndpoints/ep-1';

const endpoint = (overrides: Partial<ManagedEndpoint> = {}): ManagedEndpoint => ({
  id: 'ep-1',
  kind: 'onlineEndpoint',
  arm,
  authMode: 'Key',
  secretName: 'ep-1-key',
  rotationPeriodHours: 100,
  gracePeriodHours: 25,
  probe: DEFAULT_PROBE,
  brokerKeyAccess: false,
  enabled: true,
  createdAt: '',
  updatedAt: '',
  ...overrides,
});

/** An SDK error as core-client throws it: ARM's error code in `code`. */
const restError = (statusCode: number, code?: string) =>
  Object.assign(new Error(`HTTP ${statusCode}`), {
    name: 'RestError',
    statusCode,
    ...(code ? { code } : {}),
  });

/** The check over the real online key client, whose SDK `get` is `get`; retries do not wait. */
function checkOver(get: OnlineEndpointOperations['get'], timeoutMs?: number): AzureEndpointCheck {
  const ops = { get } as OnlineEndpointOperations;
  const keys = new ArmEndpointKeyClient({ onlineEndpoints: () => ops, sleep: async () => undefined });
  return new AzureEndpointCheck({ keys, ...(timeoutMs ? { timeoutMs } : {}) });
}

const found = (authMode: string, provisioningState = 'Succeeded') =>
  checkOver(async () => ({ properties: { authMode, scoringUri: 'https://x/score', provisioningState } }));

/** The check over a key client whose `describe` shows `authMode` (any kind: the serverless client's reads alike). */
const describedAs = (authMode: string) =>
  new AzureEndpointCheck({
    keys: { describe: async () => ({ authMode, scoringUri: '', provisioningState: 'Succeeded' }) },
  });

async function refusalOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('Class: AzureEndpointCheck', () => {
  it('passes an endpoint ARM has with the auth mode registered', async () => {
    await expect(found('Key').verify(endpoint())).resolves.toBeUndefined();
    await expect(found('AMLToken').verify(endpoint({ authMode: 'AMLToken' }))).resolves.toBeUndefined();
  });

  it('turns ARM 404 into 422 AZURE_ENDPOINT_NOT_FOUND naming the ARM id and the workspace and name', async () => {
    // Act
    const error = await refusalOf(
      checkOver(() => Promise.reject(restError(404, 'ResourceNotFound'))).verify(endpoint()),
    );

    // Assess
    expect(error).toBeInstanceOf(AzureEndpointNotFoundError);
    const refused = error as AzureEndpointNotFoundError;
    expect(refused.status).toBe(422);
    expect(refused.code).toBe('AZURE_ENDPOINT_NOT_FOUND');
    expect(refused.message).toContain(ARM_ID);
    expect(refused.message).toContain('ResourceNotFound');
    expect(refused.issues.map((i) => i.field)).toEqual(['arm.workspace', 'arm.name']);
  });

  it('names the resource group or the subscription when ARM says which is missing', async () => {
    const group = await refusalOf(
      checkOver(() => Promise.reject(restError(404, 'ResourceGroupNotFound'))).verify(endpoint()),
    );
    const subscription = await refusalOf(
      checkOver(() => Promise.reject(restError(404, 'SubscriptionNotFound'))).verify(endpoint()),
    );
    expect((group as AzureEndpointNotFoundError).issues.map((i) => i.field)).toEqual(['arm.resourceGroup']);
    expect((subscription as AzureEndpointNotFoundError).issues.map((i) => i.field)).toEqual([
      'arm.subscriptionId',
    ]);
  });

  it('refuses an endpoint ARM shows being deleted as not found', async () => {
    const error = await refusalOf(found('Key', 'Deleting').verify(endpoint()));
    expect(error).toBeInstanceOf(AzureEndpointNotFoundError);
    expect((error as Error).message).toContain('being deleted');
  });

  it('refuses a Key registration of a token endpoint with the rotator’s AUTH_MODE_NOT_KEY', async () => {
    const error = await refusalOf(found('AADToken').verify(endpoint()));
    expect(error).toBeInstanceOf(AuthModeNotKeyError);
    expect((error as AuthModeNotKeyError).authMode).toBe('AADToken');
  });

  it.each([
    ['onlineEndpoint', 'AMLToken', 'AADToken'],
    ['onlineEndpoint', 'AADToken', 'AMLToken'],
    ['onlineEndpoint', 'AMLToken', 'Key'],
    ['serverlessEndpoint', 'AMLToken', 'Key'],
    ['serverlessEndpoint', 'AMLToken', 'AAD'],
    ['serverlessEndpoint', 'AADToken', 'Key'],
  ] as const)(
    'refuses a %s registered for %s that ARM shows with %s: 422 AUTH_MODE_MISMATCH naming both and authMode',
    async (kind, authMode, atArm) => {
      // Act
      const error = await refusalOf(describedAs(atArm).verify(endpoint({ kind, authMode })));

      // Assess
      expect(error).toBeInstanceOf(AuthModeMismatchError);
      const refused = error as AuthModeMismatchError;
      expect([refused.status, refused.code]).toEqual([422, 'AUTH_MODE_MISMATCH']);
      expect(refused.message).toContain(`authMode ${authMode}`);
      expect(refused.message).toContain(`auth mode ${atArm}`);
      expect(refused.issues.map((i) => i.field)).toEqual(['authMode']);
    },
  );

  it.each([
    ['onlineEndpoint', 'AADToken', 'AADToken'],
    ['serverlessEndpoint', 'AADToken', 'AAD'],
    ['serverlessEndpoint', 'AADToken', 'KeyAndAAD'],
    ['serverlessEndpoint', 'AADToken', 'Aad'],
  ] as const)('passes a %s registered for %s that ARM shows with %s', async (kind, authMode, atArm) => {
    await expect(describedAs(atArm).verify(endpoint({ kind, authMode }))).resolves.toBeUndefined();
  });

  it('shows at most 64 characters of the auth mode ARM answered', async () => {
    const error = await refusalOf(describedAs('X'.repeat(500)).verify(endpoint({ authMode: 'AMLToken' })));
    expect((error as AuthModeMismatchError).armAuthMode).toHaveLength(64);
    expect((error as Error).message).not.toContain('X'.repeat(65));
  });

  it('turns ARM 403 into 422 naming the RBAC action the identity lacks', async () => {
    // Act
    const error = await refusalOf(
      checkOver(() => Promise.reject(restError(403, 'AuthorizationFailed'))).verify(endpoint()),
    );

    // Assess
    expect(error).toBeInstanceOf(AzureEndpointReadForbiddenError);
    expect((error as AzureEndpointReadForbiddenError).status).toBe(422);
    expect((error as Error).message).toContain(
      'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read',
    );
    expect((error as Error).message).toContain(ARM_ID);
  });

  it('answers 503 with a retry hint when ARM keeps failing', async () => {
    const error = await refusalOf(checkOver(() => Promise.reject(restError(503))).verify(endpoint()));
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as DependencyUnavailableError).retryAfterSeconds).toBeGreaterThan(0);
  });

  it('answers 503 once ARM has not answered within its time, and stops the read', async () => {
    // Prepare: a GET that never answers, ended only by its signal
    const found = { properties: { authMode: 'Key' } };
    const signals: Array<AbortSignal | undefined> = [];
    const check = checkOver((_rg, _ws, _name, options) => {
      signals.push(options?.abortSignal);
      return untilAborted(neverEnds(0), options?.abortSignal).then(() => found);
    }, 50);

    // Act
    const error = await refusalOf(check.verify(endpoint()));

    // Assess
    expect(error).toBeInstanceOf(DependencyUnavailableError);
    expect((error as Error).message).toContain('within 0.05 s');
    expect(signals[0]?.aborted).toBe(true);
  });

  it('reads nothing for a v1 web service, which is no ARM resource', async () => {
    const get = jest.fn<ReturnType<OnlineEndpointOperations['get']>, []>();
    await checkOver(get).verify(
      endpoint({ kind: 'v1WebService', v1: { computeType: 'AKS', region: 'westeurope' } }),
    );
    expect(get).not.toHaveBeenCalled();
  });
});
