import { startOperation } from './armOperations';
import { ML_WORKSPACES, RP, workspaceId } from './armShapes';
import { ARM_AUDIENCES, checkEntraToken } from './auth';
import { regenerateBody, type RequestContext, type Route, seconds, send } from './httpUtil';
import { authKeys, newKey } from './keySlots';
import type { EmulatorState, WorkspaceRecord } from './state';
import { mmsError, v1OperationBody, v1ServiceBody } from './v1Shapes';
import type { V1ServiceRecord } from './v1State';

/**
 * The Azure ML SDK v1 model-management routes, under
 * `[/mms/{region}]/modelmanagement/v1.0/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}`:
 * `GET services/{name}`, `POST services/{name}/listkeys`, `POST services/{name}/regenerateKeys`
 * (202 + `Operation-Location`), `POST services/{name}/token` (201 AuthToken) and `GET operations/{id}`.
 * In Azure the host is the workspace region's; locally the optional `/mms/{region}` prefix plays the
 * host, so a region outage can be injected (`setFault('modelManagement', fault, region)`).
 * The 400 bodies for listkeys on a key-auth-off service and token on a service without token auth are
 * the stand-in's own (ModelErrorResponse shape), not from a recording.
 */

interface Target {
  readonly ws: WorkspaceRecord;
  readonly base: string;
  readonly rest: readonly string[];
}

function parse(state: EmulatorState, ctx: RequestContext): (Target & { region: string }) | Route | undefined {
  let s = ctx.segments;
  let region: string | undefined;
  if (s[0]?.toLowerCase() === 'mms' && s[1]) {
    region = s[1];
    s = s.slice(2);
  }
  const l = s.map((x) => x.toLowerCase());
  if (l[0] !== 'modelmanagement' || l[1] !== 'v1.0') return undefined;
  if (l[2] !== 'subscriptions' || l[4] !== 'resourcegroups' || l[6] !== 'providers') return undefined;
  if (l[7] !== RP.toLowerCase() || l[8] !== 'workspaces' || !s[9]) return undefined;
  const coords = { subscriptionId: s[3] ?? '', resourceGroup: s[5] ?? '', workspace: s[9] };
  const ws = state.workspace(coords);
  const prefix = region ? `/mms/${encodeURIComponent(region)}` : '';
  const base = `${state.url}${prefix}/modelmanagement/v1.0${workspaceId(coords)}`;
  if (!ws || (region && region.toLowerCase() !== ws.location.toLowerCase()))
    return {
      operation: 'mms.workspaceNotFound',
      run: (c) =>
        mmsError(
          c,
          404,
          'WorkspaceNotFound',
          `Workspace '${coords.workspace}' was not found in this region.`,
        ),
    };
  return { ws, base, rest: s.slice(10), region: region ?? ws.location };
}

const READ_SERVICES = `${ML_WORKSPACES}/services/read`;

/** A call on `services/{name}[/{verb}]`: its counter name, the RBAC action it needs, and the handler. */
interface ServiceCall {
  readonly operation: string;
  readonly action: (s: V1ServiceRecord | undefined) => string;
  readonly run: Handler;
}

/** The service call `method` and `verb` (lower case) name, if any. */
function serviceCall(method: string, verb: string | undefined): ServiceCall | undefined {
  if (method === 'GET' && verb === undefined)
    return { operation: 'mms.get', action: () => READ_SERVICES, run: get };
  if (method !== 'POST') return undefined;
  if (verb === 'listkeys') return { operation: 'mms.listKeys', action: listKeysAction, run: listKeys };
  if (verb === 'regeneratekeys')
    return { operation: 'mms.regenerateKeys', action: listKeysAction, run: regenerate };
  if (verb === 'token')
    return { operation: 'mms.token', action: () => `${ML_WORKSPACES}/services/aks/score/action`, run: token };
  return undefined;
}

/**
 * Routes a model-management request: ARM-audience token, RBAC action, then the service call, or the
 * poll of an operation (`GET operations/{id}`, the one call not on a service).
 */
export function v1Route(state: EmulatorState, ctx: RequestContext): Route | undefined {
  const parsed = parse(state, ctx);
  if (!parsed || 'run' in parsed) return parsed;
  const { ws, rest, region } = parsed;
  const [collection, name, verb, extra] = rest.map((x, i) => (i === 1 ? x : x.toLowerCase()));
  if (extra !== undefined || !name) return undefined;
  const call = collection === 'services' ? serviceCall(ctx.method, verb) : undefined;
  const pollsOperation = collection === 'operations' && ctx.method === 'GET' && verb === undefined;
  if (!call && !pollsOperation) return undefined;
  const serviceScope = `${workspaceId(ws)}/services/${name}`;
  return {
    operation: call?.operation ?? 'mms.operation',
    faultScope: region.toLowerCase(),
    run: (c) => {
      const check = checkEntraToken(state, c, ARM_AUDIENCES);
      if (!check.ok) {
        state.count('mms.unauthorized');
        return mmsError(c, 401, 'Unauthorized', 'The request has no valid Azure Resource Manager token.', {
          'www-authenticate': 'Bearer',
        });
      }
      const service = call ? state.v1.get({ ...ws, name }) : undefined;
      const action = call ? call.action(service) : READ_SERVICES;
      if (!state.roles.allows(check.oid, action, serviceScope)) {
        state.count('mms.forbidden');
        return mmsError(
          c,
          403,
          'AuthorizationFailed',
          `The client with object id '${check.oid}' does not have authorization to perform action '${action}' over scope '${serviceScope}'.`,
        );
      }
      if (!call) return pollOperation(state, c, parsed, name);
      if (!service)
        return mmsError(
          c,
          404,
          'ServiceNotFound',
          `Service '${name}' was not found in workspace '${ws.workspace}'.`,
        );
      call.run(state, c, parsed, service);
    },
  };
}

type Handler = (state: EmulatorState, ctx: RequestContext, t: Target, s: V1ServiceRecord) => void;

function listKeysAction(s: V1ServiceRecord | undefined): string {
  return `${ML_WORKSPACES}/services/${s?.computeType === 'ACI' ? 'aci' : 'aks'}/listkeys/action`;
}

/** Scoring URI of a v1 service on this server. */
export function v1ScoringUri(state: EmulatorState, s: V1ServiceRecord): string {
  return `${state.url}/v1/${encodeURIComponent(s.workspace)}/${encodeURIComponent(s.name)}/score`;
}

const get: Handler = (state, ctx, t, s) =>
  send(ctx, 200, v1ServiceBody(s, v1ScoringUri(state, s), t.ws.location));

function keyAuthOff(ctx: RequestContext, s: V1ServiceRecord): boolean {
  if (s.authEnabled) return false;
  mmsError(ctx, 400, 'BadRequest', `Service '${s.name}' does not have key authentication enabled.`);
  return true;
}

const listKeys: Handler = (_state, ctx, _t, s) => {
  if (keyAuthOff(ctx, s)) return;
  send(ctx, 200, authKeys(s));
};

/** regenerateKeys: `{ keyType, keyValue? }` (the SDK capitalises keyType); 202 + Operation-Location. */
const regenerate: Handler = (state, ctx, t, s) => {
  if (keyAuthOff(ctx, s)) return;
  const request = regenerateBody(ctx);
  if (!request)
    return mmsError(ctx, 400, 'BadRequest', "The request body must be { keyType: 'Primary' | 'Secondary' }.");
  const op = startOperation(state, ctx, t.ws, state.settings.regenerateDelayMs, (at) =>
    state.setKey(s, request.slot, request.keyValue ?? newKey(), at),
  );
  send(ctx, 202, undefined, { 'operation-location': `${t.base}/operations/${encodeURIComponent(op.id)}` });
};

/** `GET operations/{id}`: the state of a regenerateKeys operation started in this subscription. */
function pollOperation(state: EmulatorState, ctx: RequestContext, t: Target, id: string): void {
  const op = state.operationIn(t.ws.subscriptionId, id);
  if (!op) return mmsError(ctx, 404, 'OperationNotFound', `Operation '${id}' was not found.`);
  send(ctx, 200, v1OperationBody(op, ctx.now));
}

/** POST token: AKS services with token auth only; 201 AuthToken with epoch-second times. */
const token: Handler = (state, ctx, t, s) => {
  if (s.computeType !== 'AKS')
    return mmsError(
      ctx,
      400,
      'BadRequest',
      `Token authentication is only supported on AKS services; '${s.name}' is ${s.computeType}.`,
    );
  if (!s.tokenAuthEnabled)
    return mmsError(
      ctx,
      400,
      'BadRequest',
      `Service '${s.name}' does not have token authentication enabled.`,
    );
  const now = seconds(ctx.now);
  const lifetime = state.settings.endpointTokenLifetimeSeconds;
  const accessToken = state.jwt.sign({
    iss: 'azureml',
    aud: 'azureml',
    serviceName: s.name,
    serviceId: s.serviceId,
    workspaceId: t.ws.workspaceId,
    tid: state.tenantId,
    exp: now + lifetime,
  });
  send(ctx, 201, {
    accessToken,
    tokenType: 'Bearer',
    expiryOn: now + lifetime,
    refreshAfter: now + Math.floor(lifetime / 2),
  });
};
