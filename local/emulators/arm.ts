import { unregisteredApiVersion } from './armApiVersions';
import * as handlers from './armHandlers';
import { deleteOnline, putOnline } from './armLifecycle';
import { operationResult, operationStatus } from './armOperations';
import { armError, armUnauthorized, ML_WORKSPACES, RP, workspaceId } from './armShapes';
import { ARM_AUDIENCES, checkEntraToken } from './auth';
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

/** What an operation under a workspace runs and what it takes. */
interface WorkspaceRoute {
  readonly operation: string;
  readonly handler: ArmHandler;
  /** RBAC action, after `Microsoft.MachineLearningServices/workspaces/`. */
  readonly action: string;
  /** See {@link ArmOperation.write}. */
  readonly write?: true;
}

/**
 * The operations on a workspace and under it, by method and the path after the workspace (`{name}`
 * the endpoint, `{deployment}` a deployment; matched case-insensitively, as ARM does).
 */
const WORKSPACE_ROUTES: Record<string, WorkspaceRoute> = {
  GET: { operation: 'arm.getWorkspace', handler: handlers.getWorkspace, action: 'read' },
  'GET onlineEndpoints': {
    operation: 'arm.list',
    handler: handlers.listOnline,
    action: 'onlineEndpoints/read',
  },
  'GET onlineEndpoints/{name}': {
    operation: 'arm.get',
    handler: handlers.getOnline,
    action: 'onlineEndpoints/read',
  },
  'PUT onlineEndpoints/{name}': {
    operation: 'arm.createOrUpdate',
    handler: putOnline,
    action: 'onlineEndpoints/write',
    write: true,
  },
  'DELETE onlineEndpoints/{name}': {
    operation: 'arm.delete',
    handler: deleteOnline,
    action: 'onlineEndpoints/delete',
  },
  'POST onlineEndpoints/{name}/listKeys': {
    operation: 'arm.listKeys',
    handler: handlers.listKeys('online'),
    action: 'onlineEndpoints/listKeys/action',
    write: true,
  },
  'POST onlineEndpoints/{name}/regenerateKeys': {
    operation: 'arm.regenerateKeys',
    handler: handlers.regenerateKeys('online'),
    action: 'onlineEndpoints/regenerateKeys/action',
    write: true,
  },
  'POST onlineEndpoints/{name}/token': {
    operation: 'arm.token',
    handler: handlers.getToken,
    action: 'onlineEndpoints/token/action',
    write: true,
  },
  'GET onlineEndpoints/{name}/deployments': {
    operation: 'arm.listDeployments',
    handler: handlers.listDeployments,
    action: 'onlineEndpoints/deployments/read',
  },
  'GET onlineEndpoints/{name}/deployments/{deployment}': {
    operation: 'arm.getDeployment',
    handler: handlers.getDeployment,
    action: 'onlineEndpoints/deployments/read',
  },
  'GET serverlessEndpoints/{name}': {
    operation: 'arm.serverless.get',
    handler: handlers.getServerless,
    action: 'serverlessEndpoints/read',
  },
  'POST serverlessEndpoints/{name}/listKeys': {
    operation: 'arm.serverless.listKeys',
    handler: handlers.listKeys('serverless'),
    action: 'serverlessEndpoints/listKeys/action',
    write: true,
  },
  'POST serverlessEndpoints/{name}/regenerateKeys': {
    operation: 'arm.serverless.regenerateKeys',
    handler: handlers.regenerateKeys('serverless'),
    action: 'serverlessEndpoints/regenerateKeys/action',
    write: true,
  },
};

/** {@link WORKSPACE_ROUTES} by lower-cased key, each with its path as written there. */
const ROUTES_BY_KEY = new Map(
  Object.entries(WORKSPACE_ROUTES).map(([key, route]) => [
    key.toLowerCase(),
    { route, path: key.split(' ')[1]?.split('/') ?? [] },
  ]),
);

/** The operation `rest` (the path after the workspace) names; sets `t.name` to the endpoint name. */
function resolve(ctx: RequestContext, t: ArmTarget, rest: readonly string[]): ArmOperation | undefined {
  const name = rest[1];
  t.name = name ?? '';
  const pattern = rest.map((s, i) => (i === 1 ? '{name}' : i === 3 ? '{deployment}' : s));
  const found = ROUTES_BY_KEY.get([ctx.method, pattern.join('/')].filter(Boolean).join(' ').toLowerCase());
  // A segment holding an escaped '/' must not pass for two of the route's.
  if (!found || found.path.length !== rest.length) return undefined;
  const { route, path } = found;
  const [collection] = path;
  const ws = workspaceId(t);
  return {
    operation: route.operation,
    handler: route.handler,
    action: `${ML_WORKSPACES}/${route.action}`,
    write: route.write ?? false,
    scope: collection ? `${ws}/${collection}${name ? `/${name}` : ''}` : ws,
    resourceType: ['workspaces', collection, path[2] === 'deployments' ? 'deployments' : undefined]
      .filter(Boolean)
      .join('/'),
  };
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

/** Routes an ARM request: authentication, api-version, write throttling, RBAC, then the handler. */
export function armRoute(state: EmulatorState, ctx: RequestContext): Route | undefined {
  const parsed = parse(ctx);
  if (!parsed) return undefined;
  const { target, op } = parsed;
  return {
    operation: op.operation,
    run: (c) => {
      const check = checkEntraToken(state, c, ARM_AUDIENCES);
      if (!check.ok) {
        state.count('arm.unauthorized');
        return armUnauthorized(c, check);
      }
      if (!c.query.get('api-version')) {
        return armError(
          c,
          400,
          'MissingApiVersionParameter',
          'The api-version query parameter (?api-version=) is required for all requests.',
        );
      }
      const apiVersion = c.query.get('api-version') ?? '';
      const location = state.workspace(target)?.location ?? 'westeurope';
      const unregistered = unregisteredApiVersion(apiVersion, op.resourceType, location);
      if (unregistered) return armError(c, 400, 'NoRegisteredProviderFound', unregistered);
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
