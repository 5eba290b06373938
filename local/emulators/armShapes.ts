import type { TokenCheck } from './auth';
import { type RequestContext, send } from './httpUtil';
import type { EmulatorState, EndpointRecord, OperationRecord, WorkspaceRecord } from './state';
import type { WorkspaceCoordinates } from './types';

/** The ML resource provider namespace as ARM spells it in ids. */
export const RP = 'Microsoft.MachineLearningServices';

/** RBAC actions on ML workspaces, and on everything under them, start with this. */
export const ML_WORKSPACES = `${RP}/workspaces`;

/** The data action that lets a caller score an online endpoint (AADToken calls; AML tokens carry it). */
export const ONLINE_SCORE_ACTION = `${ML_WORKSPACES}/onlineEndpoints/score/action`;

/** ARM id of a workspace. */
export function workspaceId(c: WorkspaceCoordinates): string {
  return `/subscriptions/${c.subscriptionId}/resourceGroups/${c.resourceGroup}/providers/${RP}/workspaces/${c.workspace}`;
}

/** ARM id of an endpoint. */
export function endpointId(e: EndpointRecord): string {
  return `${workspaceId(e)}/${e.kind === 'online' ? 'onlineEndpoints' : 'serverlessEndpoints'}/${e.name}`;
}

/** .NET-style timestamp with 7 fraction digits and an offset, as the ML RP writes them. */
export function armTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '0000+00:00');
}

/** ARM `ErrorResponse` `{ error: { code, message } }`. */
export function armError(
  ctx: RequestContext,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  send(ctx, status, { error: { code, message } }, headers);
}

/** ARM's 404 for a resource that does not exist. */
export function resourceNotFound(ctx: RequestContext, c: WorkspaceCoordinates, type: string): void {
  armError(
    ctx,
    404,
    'ResourceNotFound',
    `The Resource '${RP}/${type}' under resource group '${c.resourceGroup}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

function systemData(e: EndpointRecord): Record<string, string> {
  return {
    createdAt: e.createdAt,
    createdBy: 'emulator',
    createdByType: 'Application',
    lastModifiedAt: e.modifiedAt,
    lastModifiedBy: 'emulator',
    lastModifiedByType: 'Application',
  };
}

/** OnlineEndpoint as GET returns it (`properties.keys` is never returned, as in Azure). */
export function onlineEndpointBody(
  state: EmulatorState,
  e: EndpointRecord,
  ws: WorkspaceRecord,
): Record<string, unknown> {
  const id = endpointId(e);
  const scoringUri = state.scoringUri(e);
  return {
    id,
    name: e.name,
    type: `${RP}/workspaces/onlineEndpoints`,
    properties: {
      description: null,
      properties: { 'azureml.onlineendpointid': id.toLowerCase() },
      scoringUri,
      swaggerUri: scoringUri.replace(/\/score$/, '/swagger.json'),
      authMode: e.authMode,
      provisioningState: e.provisioningState,
      compute: null,
      traffic: e.traffic,
      mirrorTraffic: {},
      publicNetworkAccess: 'Enabled',
    },
    systemData: systemData(e),
    tags: e.tags,
    location: ws.location,
    kind: 'Managed',
    identity: { type: 'SystemAssigned', principalId: e.principalId, tenantId: state.tenantId },
  };
}

/** ServerlessEndpoint as GET returns it. */
export function serverlessEndpointBody(
  state: EmulatorState,
  e: EndpointRecord,
  ws: WorkspaceRecord,
): Record<string, unknown> {
  return {
    id: endpointId(e),
    name: e.name,
    type: `${RP}/workspaces/serverlessEndpoints`,
    location: ws.location,
    kind: 'ServerlessEndpoint',
    tags: e.tags,
    sku: { name: 'Consumption' },
    properties: {
      authMode: e.authMode,
      contentSafety: { contentSafetyStatus: 'Enabled' },
      endpointState: 'Online',
      inferenceEndpoint: { headers: {}, uri: state.scoringUri(e) },
      marketplaceSubscriptionId: null,
      modelSettings: { modelId: `azureml://registries/azureml/models/${e.name}-model` },
      provisioningState: e.provisioningState,
    },
    systemData: systemData(e),
  };
}

const PROBE = {
  failureThreshold: 30,
  successThreshold: 1,
  timeout: 'PT2S',
  period: 'PT10S',
  initialDelay: 'PT10S',
};

/** Managed online deployment for each traffic entry (shape of the recorded deployments list). */
export function deploymentBody(
  e: EndpointRecord,
  ws: WorkspaceRecord,
  name: string,
): Record<string, unknown> {
  return {
    id: `${endpointId(e)}/deployments/${name}`,
    name,
    type: `${RP}/workspaces/onlineEndpoints/deployments`,
    properties: {
      description: null,
      properties: {},
      codeConfiguration: { codeId: `${workspaceId(e)}/codes/${name}/versions/1`, scoringScript: 'score.py' },
      environmentId: `${workspaceId(e)}/environments/${name}-env/versions/1`,
      environmentVariables: {},
      scaleSettings: { scaleType: 'Default' },
      requestSettings: { maxQueueWait: 'PT0S', requestTimeout: 'PT5S', maxConcurrentRequestsPerInstance: 1 },
      modelMountPath: null,
      appInsightsEnabled: false,
      livenessProbe: PROBE,
      readinessProbe: PROBE,
      provisioningState: 'Succeeded',
      instanceType: 'Standard_DS2_V2',
      model: `${workspaceId(e)}/models/${e.name}-model/versions/1`,
      privateNetworkConnection: false,
      egressPublicNetworkAccess: 'Enabled',
      endpointComputeType: 'Managed',
    },
    systemData: systemData(e),
    tags: {},
    location: ws.location,
    kind: 'Managed',
    sku: { name: 'Default', tier: 'Standard', capacity: 1 },
  };
}

/** URLs of an operation: [Azure-AsyncOperation (status), Location (result)]. */
export function operationUrls(
  state: EmulatorState,
  op: OperationRecord,
  apiVersion: string,
): [string, string] {
  const base = `${state.url}/subscriptions/${op.subscriptionId}/providers/${RP}/locations/${op.location}`;
  const q = `?api-version=${encodeURIComponent(apiVersion)}`;
  return [`${base}/mfeOperationsStatus/${op.id}${q}`, `${base}/mfeOperationResults/${op.id}${q}`];
}

/** Body of an mfeOperationsStatus poll (recorded: `Updating` while running, then `Succeeded`). */
export function operationStatusBody(
  op: OperationRecord,
  subscriptionId: string,
  at: number,
): Record<string, unknown> {
  return {
    id: `/subscriptions/${subscriptionId}/providers/${RP}/locations/${op.location}/mfeOperationsStatus/${op.id}`,
    name: op.id,
    startTime: armTime(op.startedAt),
    ...(op.done ? { endTime: armTime(Math.min(op.completeAt, at)) } : {}),
    percentComplete: op.done ? 100 : 0,
    status: op.done ? 'Succeeded' : 'Updating',
  };
}

/** ARM's 401 for a token it refuses, in ARM's words for each problem. */
export function armUnauthorized(ctx: RequestContext, check: Exclude<TokenCheck, { ok: true }>): void {
  const www = {
    'www-authenticate': `Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`,
  };
  const now = new Date(ctx.now).toISOString();
  switch (check.problem) {
    case 'missing':
      return armError(
        ctx,
        401,
        'AuthenticationFailed',
        "Authentication failed. The 'Authorization' header is missing.",
        www,
      );
    case 'expired':
      return armError(
        ctx,
        401,
        'ExpiredAuthenticationToken',
        `The access token expiry UTC time '${new Date((check.exp ?? 0) * 1000).toISOString()}' is earlier than current UTC time '${now}'.`,
      );
    case 'audience':
      return armError(
        ctx,
        401,
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${check.audience ?? ''}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.core.windows.net','https://management.azure.com/','https://management.azure.com'.`,
      );
    default:
      return armError(ctx, 401, 'InvalidAuthenticationToken', 'The access token is invalid.');
  }
}
