import type { ArmCaller, ArmTarget } from './arm';
import { retryAfter, startOperation } from './armOperations';
import {
  armError,
  deploymentBody,
  ML_WORKSPACES,
  ONLINE_SCORE_ACTION,
  onlineEndpointBody,
  operationUrls,
  resourceNotFound,
  serverlessEndpointBody,
  workspaceId,
} from './armShapes';
import { regenerateBody, type RequestContext, seconds, send } from './httpUtil';
import { authKeys, newKey } from './keySlots';
import type { EmulatorState, EndpointRecord, WorkspaceRecord } from './state';

type Found = { ws: WorkspaceRecord; e: EndpointRecord };

/**
 * The endpoint the path names and its workspace; undefined once it has answered ARM's 404 for
 * whichever of the two is missing.
 */
export function endpointOrNotFound(
  state: EmulatorState,
  ctx: RequestContext,
  t: ArmTarget,
  kind: EndpointRecord['kind'],
): Found | undefined {
  const ws = state.workspace(t);
  if (!ws) return void resourceNotFound(ctx, t, `workspaces/${t.workspace}`);
  const e = state.endpoint(kind, t);
  if (!e) {
    state.count('arm.notFound');
    return void resourceNotFound(
      ctx,
      t,
      `workspaces/${t.workspace}/${kind === 'online' ? 'onlineEndpoints' : 'serverlessEndpoints'}/${t.name}`,
    );
  }
  return { ws, e };
}

function apiVersion(ctx: RequestContext): string {
  return ctx.query.get('api-version') ?? '';
}

/** GET workspace (minimal shape). */
export function getWorkspace(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  const ws = state.workspace(t);
  if (!ws) return resourceNotFound(ctx, t, `workspaces/${t.workspace}`);
  send(ctx, 200, {
    id: workspaceId(ws),
    name: ws.workspace,
    type: ML_WORKSPACES,
    location: ws.location,
    properties: {
      workspaceId: ws.workspaceId,
      friendlyName: ws.workspace,
      provisioningState: 'Succeeded',
      discoveryUrl: `https://${ws.location}.api.azureml.ms/discovery`,
    },
  });
}

/** GET onlineEndpoints: `{ value, nextLink }` paged by `count` / `$skip`. */
export function listOnline(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  const ws = state.workspace(t);
  if (!ws) return resourceNotFound(ctx, t, `workspaces/${t.workspace}`);
  const all = [...state.endpoints.values()]
    .filter((e) => e.kind === 'online' && state.workspace(e) === ws)
    .sort((a, b) => a.name.localeCompare(b.name));
  const size = Math.max(1, Number(ctx.query.get('count')) || 50);
  const skip = Math.max(0, Number(ctx.query.get('$skip')) || 0);
  let nextLink: string | undefined;
  if (skip + size < all.length) {
    const q = new URLSearchParams(ctx.query);
    q.set('$skip', String(skip + size));
    nextLink = `${state.url}${ctx.url.pathname}?${q.toString()}`;
  }
  send(ctx, 200, {
    value: all.slice(skip, skip + size).map((e) => onlineEndpointBody(state, e, ws)),
    ...(nextLink ? { nextLink } : {}),
  });
}

/** GET one online endpoint. */
export function getOnline(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  const found = endpointOrNotFound(state, ctx, t, 'online');
  if (found) send(ctx, 200, onlineEndpointBody(state, found.e, found.ws));
}

/** GET one serverless endpoint. */
export function getServerless(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  const found = endpointOrNotFound(state, ctx, t, 'serverless');
  if (found) send(ctx, 200, serverlessEndpointBody(state, found.e, found.ws));
}

/** GET deployments of an online endpoint (one per traffic entry). */
export function listDeployments(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  const found = endpointOrNotFound(state, ctx, t, 'online');
  if (found)
    send(ctx, 200, { value: Object.keys(found.e.traffic).map((d) => deploymentBody(found.e, found.ws, d)) });
}

/** GET one deployment of an online endpoint. */
export function getDeployment(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  const found = endpointOrNotFound(state, ctx, t, 'online');
  if (!found) return;
  const deployment = ctx.segments[ctx.segments.length - 1] ?? '';
  const name = Object.keys(found.e.traffic).find((d) => d.toLowerCase() === deployment.toLowerCase());
  if (!name)
    return resourceNotFound(
      ctx,
      t,
      `workspaces/${t.workspace}/onlineEndpoints/${t.name}/deployments/${deployment}`,
    );
  send(ctx, 200, deploymentBody(found.e, found.ws, name));
}

/** POST listKeys → EndpointAuthKeys. */
export function listKeys(kind: EndpointRecord['kind']) {
  return (state: EmulatorState, ctx: RequestContext, t: ArmTarget): void => {
    const found = endpointOrNotFound(state, ctx, t, kind);
    if (found) send(ctx, 200, authKeys(found.e));
  };
}

function parseRegenerate(
  ctx: RequestContext,
): { slot: 'Primary' | 'Secondary'; keyValue?: string } | undefined {
  const request = regenerateBody(ctx);
  if (!request) {
    armError(
      ctx,
      400,
      'UserError',
      "The request body must be { keyType: 'Primary' | 'Secondary', keyValue?: non-empty string }.",
    );
    return undefined;
  }
  return request;
}

/**
 * POST regenerateKeys: 202 + Azure-AsyncOperation + Location + Retry-After; the key changes at completion.
 * Online endpoints end with no result (final result void); serverless endpoints' operation result (the
 * Location, final-state-via location) is EndpointAuthKeys. The spec examples also document a 200, but both
 * are long-running operations (TypeSpec ArmResourceActionAsync), so callers must handle the 202.
 */
export function regenerateKeys(kind: EndpointRecord['kind']) {
  return (state: EmulatorState, ctx: RequestContext, t: ArmTarget): void => {
    const found = endpointOrNotFound(state, ctx, t, kind);
    const request = found && parseRegenerate(ctx);
    if (!found || !request) return;
    const { e, ws } = found;
    const op = startOperation(state, ctx, ws, state.settings.regenerateDelayMs, (at) => {
      state.setKey(e, request.slot, request.keyValue ?? newKey(), at);
      return kind === 'serverless' ? authKeys(e) : undefined;
    });
    const [status, result] = operationUrls(state, op, apiVersion(ctx));
    send(ctx, 202, undefined, {
      'azure-asyncoperation': status,
      location: result,
      'retry-after': retryAfter(op, ctx.now),
      'x-ms-async-operation-timeout': 'PT1H',
    });
  };
}

/** POST token (AMLToken endpoints only): an AML token with the recorded claim set. */
export function getToken(state: EmulatorState, ctx: RequestContext, t: ArmTarget, caller: ArmCaller): void {
  const found = endpointOrNotFound(state, ctx, t, 'online');
  if (!found) return;
  const { e, ws } = found;
  if (e.authMode !== 'AMLToken') {
    return armError(
      ctx,
      400,
      'UserError',
      `Token is only available for endpoints with auth mode AMLToken; endpoint '${e.name}' uses ${e.authMode}.`,
    );
  }
  const now = seconds(ctx.now);
  const lifetime = state.settings.endpointTokenLifetimeSeconds;
  const exp = now + lifetime;
  const accessToken = state.jwt.sign({
    canRefresh: 'False',
    workspaceId: ws.workspaceId,
    tid: state.tenantId,
    oid: caller.oid,
    actions: JSON.stringify([ONLINE_SCORE_ACTION]),
    endpointName: e.name,
    serviceId: e.name,
    exp,
    iss: 'azureml',
    aud: 'azureml',
  });
  send(ctx, 200, {
    accessToken,
    tokenType: 'Bearer',
    expiryTimeUtc: exp,
    refreshAfterTimeUtc: now + Math.floor(lifetime / 2),
  });
}
