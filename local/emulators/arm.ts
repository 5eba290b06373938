import * as handlers from './armHandlers';
import { deleteOnline, putOnline } from './armLifecycle';
import { operationResult, operationStatus } from './armOperations';
import { armError, ML_WORKSPACES, RP, workspaceId } from './armShapes';
import { ARM_AUDIENCES, checkEntraToken, type TokenCheck } from './auth';
import type { RequestContext, Route } from './httpUtil';
import type { EmulatorState } from './state';

/** Coordinates parsed from an ARM path. */
export interface ArmTarget {
  subscriptionId: string;
  resourceGroup: string;
  workspace: string;
  name: string;
  /** Location and operation id for LRO polling URLs. */
  location: string;
  operationId: string;
}

/** The caller, from the verified ARM token. */
export interface ArmCaller {
  oid: string;
  appid: string;
}

/** An ARM handler. */
export type ArmHandler = (
  state: EmulatorState,
  ctx: RequestContext,
  target: ArmTarget,
  caller: ArmCaller,
) => void;

interface ArmOperation {
  operation: string;
  handler: ArmHandler;
  /** RBAC action checked at {@link scope}; undefined = any authenticated caller. */
  action?: string;
  /** Counts against the ARM write bucket: PUT and POST actions do; DELETE has a bucket of its own in ARM. */
  write: boolean;
  scope: string;
  /** ARM resource type under the provider, whose registered api-versions the request must use. */
  resourceType?: string;
}

/**
 * The first api-versions (stable, preview) in which the ML resource provider registered each type
 * (azure-rest-api-specs: online endpoints from 2021-03-01-preview and 2022-05-01; serverless endpoints
 * from 2023-08-01-preview and 2024-04-01, so not in 2023-10-01). ARM refuses an older or malformed
 * api-version with 400 NoRegisteredProviderFound before the provider sees the request.
 */
const FIRST_API_VERSIONS: Record<string, { stable: string; preview: string }> = {
  'workspaces/onlineEndpoints': { stable: '2022-05-01', preview: '2021-03-01-preview' },
  'workspaces/onlineEndpoints/deployments': { stable: '2022-05-01', preview: '2021-03-01-preview' },
  'workspaces/serverlessEndpoints': { stable: '2024-04-01', preview: '2023-08-01-preview' },
};

/** True when `apiVersion` is a real date (`yyyy-mm-dd[-preview]`) no older than the type's first one. */
function apiVersionRegistered(apiVersion: string, resourceType: string | undefined): boolean {
  const match = /^(\d{4})-(\d{2})-(\d{2})(-preview)?$/.exec(apiVersion);
  if (!match) return false;
  const [, y, m, d, preview] = match;
  const date = new Date(`${y}-${m}-${d}T00:00:00Z`);
  if (Number.isNaN(date.getTime()) || date.toISOString().slice(0, 10) !== `${y}-${m}-${d}`) return false;
  const first = resourceType ? FIRST_API_VERSIONS[resourceType] : undefined;
  if (!first) return true;
  return apiVersion.slice(0, 10) >= (preview ? first.preview : first.stable).slice(0, 10);
}

function resolve(ctx: RequestContext, t: ArmTarget, rest: readonly string[]): ArmOperation | undefined {
  const m = ctx.method;
  const ws = workspaceId(t);
  const [collection, name, verb] = rest.map((s, i) => (i === 1 ? s : s.toLowerCase()));
  t.name = name ?? '';
  const op = (
    operation: string,
    handler: ArmHandler,
    action: string | undefined,
    write: boolean,
    scope: string,
  ): ArmOperation => ({
    operation,
    handler,
    write,
    scope,
    ...(action ? { action } : {}),
    resourceType:
      collection === 'onlineendpoints'
        ? `workspaces/onlineEndpoints${verb === 'deployments' ? '/deployments' : ''}`
        : collection === 'serverlessendpoints'
          ? 'workspaces/serverlessEndpoints'
          : 'workspaces',
  });
  if (rest.length === 0 && m === 'GET')
    return op('arm.getWorkspace', handlers.getWorkspace, `${ML_WORKSPACES}/read`, false, ws);
  if (collection === 'onlineendpoints') {
    const scope = `${ws}/onlineEndpoints${name ? `/${name}` : ''}`;
    const a = `${ML_WORKSPACES}/onlineEndpoints`;
    if (rest.length === 1 && m === 'GET')
      return op('arm.list', handlers.listOnline, `${a}/read`, false, scope);
    if (rest.length === 2 && m === 'GET') return op('arm.get', handlers.getOnline, `${a}/read`, false, scope);
    if (rest.length === 2 && m === 'PUT')
      return op('arm.createOrUpdate', putOnline, `${a}/write`, true, scope);
    if (rest.length === 2 && m === 'DELETE')
      return op('arm.delete', deleteOnline, `${a}/delete`, false, scope);
    if (rest.length === 3 && m === 'POST' && verb === 'listkeys')
      return op('arm.listKeys', handlers.listKeys('online'), `${a}/listKeys/action`, true, scope);
    if (rest.length === 3 && m === 'POST' && verb === 'regeneratekeys')
      return op(
        'arm.regenerateKeys',
        handlers.regenerateKeys('online'),
        `${a}/regenerateKeys/action`,
        true,
        scope,
      );
    if (rest.length === 3 && m === 'POST' && verb === 'token')
      return op('arm.token', handlers.getToken, `${a}/token/action`, true, scope);
    if (rest.length === 3 && m === 'GET' && verb === 'deployments')
      return op('arm.listDeployments', handlers.listDeployments, `${a}/deployments/read`, false, scope);
    if (rest.length === 4 && m === 'GET' && verb === 'deployments')
      return op('arm.getDeployment', handlers.getDeployment, `${a}/deployments/read`, false, scope);
  }
  if (collection === 'serverlessendpoints' && name) {
    const scope = `${ws}/serverlessEndpoints/${name}`;
    const a = `${ML_WORKSPACES}/serverlessEndpoints`;
    if (rest.length === 2 && m === 'GET')
      return op('arm.serverless.get', handlers.getServerless, `${a}/read`, false, scope);
    if (rest.length === 3 && m === 'POST' && verb === 'listkeys')
      return op(
        'arm.serverless.listKeys',
        handlers.listKeys('serverless'),
        `${a}/listKeys/action`,
        true,
        scope,
      );
    if (rest.length === 3 && m === 'POST' && verb === 'regeneratekeys')
      return op(
        'arm.serverless.regenerateKeys',
        handlers.regenerateKeys('serverless'),
        `${a}/regenerateKeys/action`,
        true,
        scope,
      );
  }
  return undefined;
}

function parse(ctx: RequestContext): { target: ArmTarget; op: ArmOperation } | undefined {
  const s = ctx.segments;
  const lower = s.map((x) => x.toLowerCase());
  if (lower[0] !== 'subscriptions' || !s[1]) return undefined;
  const target: ArmTarget = {
    subscriptionId: s[1],
    resourceGroup: '',
    workspace: '',
    name: '',
    location: '',
    operationId: '',
  };
  if (
    lower[2] === 'providers' &&
    lower[3] === RP.toLowerCase() &&
    lower[4] === 'locations' &&
    s.length === 8 &&
    ctx.method === 'GET'
  ) {
    target.location = s[5] ?? '';
    target.operationId = s[7] ?? '';
    const scope = `/subscriptions/${s[1]}`;
    // The op id is unguessable and bound to the subscription; polling needs only a valid ARM token here.
    if (lower[6] === 'mfeoperationsstatus')
      return {
        target,
        op: { operation: 'arm.operationStatus', handler: operationStatus, write: false, scope },
      };
    if (lower[6] === 'mfeoperationresults')
      return {
        target,
        op: { operation: 'arm.operationResult', handler: operationResult, write: false, scope },
      };
    return undefined;
  }
  if (
    lower[2] !== 'resourcegroups' ||
    lower[4] !== 'providers' ||
    lower[5] !== RP.toLowerCase() ||
    lower[6] !== 'workspaces'
  )
    return undefined;
  target.resourceGroup = s[3] ?? '';
  target.workspace = s[7] ?? '';
  if (!target.resourceGroup || !target.workspace) return undefined;
  const op = resolve(ctx, target, s.slice(8));
  return op ? { target, op } : undefined;
}

function unauthorized(
  state: EmulatorState,
  ctx: RequestContext,
  check: Exclude<TokenCheck, { ok: true }>,
): void {
  state.count('arm.unauthorized');
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

/** Routes an ARM request: authentication, api-version, write throttling, RBAC, then the handler. */
export function armRoute(state: EmulatorState, ctx: RequestContext): Route | undefined {
  const parsed = parse(ctx);
  if (!parsed) return undefined;
  const { target, op } = parsed;
  return {
    operation: op.operation,
    run: (c) => {
      const check = checkEntraToken(state, c, ARM_AUDIENCES);
      if (!check.ok) return unauthorized(state, c, check);
      if (!c.query.get('api-version')) {
        return armError(
          c,
          400,
          'MissingApiVersionParameter',
          'The api-version query parameter (?api-version=) is required for all requests.',
        );
      }
      const apiVersion = c.query.get('api-version') ?? '';
      if (!apiVersionRegistered(apiVersion, op.resourceType)) {
        const first = op.resourceType ? FIRST_API_VERSIONS[op.resourceType] : undefined;
        return armError(
          c,
          400,
          'NoRegisteredProviderFound',
          `No registered resource provider found for location '${state.workspace(target)?.location ?? 'westeurope'}' and API version '${apiVersion}' for type '${op.resourceType ?? 'locations'}'.` +
            (first
              ? ` The supported api-versions are '${first.stable}' and later, and previews from '${first.preview}'.`
              : ''),
        );
      }
      const headers: Record<string, string> = {};
      if (op.write) {
        const taken = state.throttle.take(`${target.subscriptionId.toLowerCase()}|${check.oid}`, c.now);
        if (taken && !taken.allowed) {
          state.count('arm.throttled');
          return armError(
            c,
            429,
            'SubscriptionRequestsThrottled',
            `Number of 'write' requests for subscription '${target.subscriptionId}' actor '${check.oid}' exceeded. Please try again after '${taken.retryAfterSeconds}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling`,
            {
              'retry-after': String(taken.retryAfterSeconds),
              'x-ms-ratelimit-remaining-subscription-writes': '0',
            },
          );
        }
        if (taken) headers['x-ms-ratelimit-remaining-subscription-writes'] = String(taken.remaining);
      }
      if (op.action && !state.roles.allows(check.oid, op.action, op.scope)) {
        state.count('arm.forbidden');
        return armError(
          c,
          403,
          'AuthorizationFailed',
          `The client '${check.appid}' with object id '${check.oid}' does not have authorization to perform action '${op.action}' over scope '${op.scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
        );
      }
      for (const [k, v] of Object.entries(headers)) c.res.setHeader(k, v);
      op.handler(state, c, target, { oid: check.oid, appid: check.appid });
    },
  };
}
