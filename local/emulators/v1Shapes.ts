import { type RequestContext, send } from './httpUtil';
import type { OperationRecord } from './state';
import type { V1ServiceRecord } from './v1State';

/**
 * Wire shapes of the v1 model-management service (MMS, REST spec `modelManagement.json` 2019-09-30):
 * `ServiceResponseBase` + the ACI/AKS fields, `AuthKeys`, `AuthToken`, `AsyncOperationStatus` and
 * `ModelErrorResponse`. Field names follow the spec; values are the stand-in's own.
 */

/** MMS `ModelErrorResponse` `{ code, statusCode, message, details }`. */
export function mmsError(
  ctx: RequestContext,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  send(ctx, status, { code, statusCode: status, message, details: [] }, headers);
}

/** `GET …/services/{name}`: AKSServiceResponse / ACIServiceResponse (keys are never in it). */
export function v1ServiceBody(
  s: V1ServiceRecord,
  scoringUri: string,
  location: string,
): Record<string, unknown> {
  return {
    id: s.name,
    name: s.name,
    description: '',
    kvTags: {},
    properties: {},
    computeType: s.computeType,
    deploymentType: 'HttpRealtimeEndpoint',
    state: 'Healthy',
    createdTime: s.createdAt,
    updatedTime: s.modifiedAt,
    scoringUri,
    swaggerUri: scoringUri.replace(/\/score$/, '/swagger.json'),
    authEnabled: s.authEnabled,
    appInsightsEnabled: false,
    ...(s.computeType === 'AKS'
      ? { aadAuthEnabled: s.tokenAuthEnabled, computeName: 'aks-demo', namespace: 'azureml-demo' }
      : { location, sslEnabled: false }),
  };
}

/** `GET …/operations/{id}`: AsyncOperationStatus; `state` runs NotStarted → Running → Succeeded. */
export function v1OperationBody(op: OperationRecord, at: number): Record<string, unknown> {
  return {
    id: op.id,
    operationType: 'RegenerateKeys',
    state: op.done ? 'Succeeded' : at > op.startedAt ? 'Running' : 'NotStarted',
    createdTime: new Date(op.startedAt).toISOString(),
    ...(op.done ? { endTime: new Date(Math.min(op.completeAt, at)).toISOString() } : {}),
  };
}
