import { randomUUID } from 'node:crypto';

import type { ArmTarget } from './arm';
import { endpointOrNotFound } from './armHandlers';
import { startOperation } from './armOperations';
import { armError, onlineEndpointBody, operationUrls, resourceNotFound } from './armShapes';
import { jsonBodyOrUndefined, type RequestContext, send, stringRecord } from './httpUtil';
import { newKeySlots } from './keySlots';
import type { EmulatorState, EndpointRecord } from './state';
import { isOnlineAuthMode, ONLINE_AUTH_MODES } from './types';

/** PUT online endpoint (201, also for an update) as a long-running operation, like the recorded exchange. */
export function putOnline(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  const ws = state.workspace(t);
  if (!ws) return resourceNotFound(ctx, t, `workspaces/${t.workspace}`);
  const body = jsonBodyOrUndefined(ctx);
  const props = body?.properties as Record<string, unknown> | undefined;
  const authMode = props?.authMode;
  if (!body || !isOnlineAuthMode(authMode)) {
    return armError(
      ctx,
      400,
      'UserError',
      `properties.authMode must be one of ${ONLINE_AUTH_MODES.map((m) => `'${m}'`).join(', ')}.`,
    );
  }
  const traffic: Record<string, number> = {};
  for (const [k, v] of Object.entries((props?.traffic as Record<string, unknown> | undefined) ?? {}))
    if (typeof v === 'number') traffic[k] = v;
  const existing = state.endpoint('online', t);
  const nowIso = new Date(ctx.now).toISOString();
  const e: EndpointRecord = existing ?? {
    kind: 'online',
    subscriptionId: t.subscriptionId,
    resourceGroup: t.resourceGroup,
    workspace: t.workspace,
    name: t.name,
    authMode,
    keys: newKeySlots(),
    tags: {},
    traffic: {},
    provisioningState: 'Creating',
    principalId: randomUUID(),
    createdAt: nowIso,
    modifiedAt: nowIso,
  };
  e.authMode = authMode;
  e.tags = stringRecord(body.tags) ?? e.tags;
  if (existing) e.provisioningState = 'Updating';
  e.modifiedAt = nowIso;
  state.putEndpoint(e);
  const op = startOperation(state, ctx, ws, state.settings.lifecycleDelayMs, () => {
    e.traffic = traffic;
    e.provisioningState = 'Succeeded';
  });
  const [status] = operationUrls(state, op, ctx.query.get('api-version') ?? '');
  // The ML RP answers 201 to create and to update alike (recorded).
  send(ctx, 201, onlineEndpointBody(state, e, ws), {
    'azure-asyncoperation': status,
    location: `${state.url}${ctx.url.pathname}${ctx.url.search}`,
    'x-ms-async-operation-timeout': 'PT30M',
    'x-ms-ratelimit-remaining-subscription-writes': '1199',
  });
}

/** DELETE online endpoint: 202 + Azure-AsyncOperation + Location, body `null` (recorded); 204 when absent. */
export function deleteOnline(state: EmulatorState, ctx: RequestContext, t: ArmTarget): void {
  if (state.workspace(t) && !state.endpoint('online', t)) return send(ctx, 204, undefined);
  const found = endpointOrNotFound(state, ctx, t, 'online');
  if (!found) return;
  found.e.provisioningState = 'Deleting';
  const op = startOperation(state, ctx, found.ws, state.settings.lifecycleDelayMs, () => {
    if (state.endpoint('online', t) === found.e) state.removeEndpoint(t, 'online');
  });
  const [status, result] = operationUrls(state, op, ctx.query.get('api-version') ?? '');
  send(ctx, 202, 'null', {
    'azure-asyncoperation': status,
    location: result,
    'x-ms-async-operation-timeout': 'PT30M',
  });
}
