import { jsonBody, type RequestContext, type Route, send } from './httpUtil';
import type { EmulatedService, EmulatorControl, EndpointCoordinates, OnlineEndpointInput } from './types';
import type { V1ServiceInput } from './v1State';

type Body = Record<string, unknown>;

function str(body: Body, key: string): string {
  const value = body[key];
  if (typeof value !== 'string' || value === '') throw new TypeError(`${key} must be a non-empty string`);
  return value;
}

function num(body: Body, key: string): number {
  const value = body[key];
  if (typeof value !== 'number') throw new TypeError(`${key} must be a number`);
  return value;
}

function coords(body: Body): EndpointCoordinates {
  return {
    subscriptionId: str(body, 'subscriptionId'),
    resourceGroup: str(body, 'resourceGroup'),
    workspace: str(body, 'workspace'),
    name: str(body, 'name'),
  };
}

const SERVICES: readonly string[] = ['identity', 'keyVault', 'arm', 'scoring', 'modelManagement'];

function service(body: Body): EmulatedService {
  const value = str(body, 'service');
  if (!SERVICES.includes(value)) throw new TypeError(`service must be one of ${SERVICES.join(', ')}`);
  return value as EmulatedService;
}

/** Admin methods: POST `/_emulator/{name}` with the method's arguments as a JSON object. */
const METHODS: Record<string, (control: EmulatorControl, body: Body) => unknown> = {
  seed: (c, b) => c.seed(b),
  addUserAssignedIdentity: (c, b) => c.addUserAssignedIdentity(str(b, 'clientId')),
  addWorkspace: (c, b) =>
    c.addWorkspace({
      subscriptionId: str(b, 'subscriptionId'),
      resourceGroup: str(b, 'resourceGroup'),
      workspace: str(b, 'workspace'),
      ...(typeof b.location === 'string' ? { location: b.location } : {}),
    }),
  addOnlineEndpoint: (c, b) =>
    c.addOnlineEndpoint({ ...b, ...coords(b), authMode: str(b, 'authMode') } as OnlineEndpointInput),
  addServerlessEndpoint: (c, b) => c.addServerlessEndpoint({ ...b, ...coords(b) }),
  addV1Service: (c, b) =>
    c.addV1Service({ ...b, ...coords(b), computeType: str(b, 'computeType') } as V1ServiceInput),
  deleteEndpoint: (c, b) => c.deleteEndpoint(coords(b)),
  keys: (c, b) => c.keys(coords(b)),
  keyChanges: (c, b) => c.keyChanges(coords(b)),
  restrictRoles: (c) => c.restrictRoles(),
  grantRole: (c, b) => c.grantRole(str(b, 'principalId'), str(b, 'scope'), str(b, 'role')),
  setFault: (c, b) =>
    c.setFault(service(b), b.fault ?? undefined, typeof b.region === 'string' ? b.region : undefined),
  clearFaults: (c) => c.clearFaults(),
  setArmWriteThrottling: (c, b) =>
    c.setArmWriteThrottling(
      b.capacity === undefined
        ? undefined
        : { capacity: num(b, 'capacity'), refillPerSecond: num(b, 'refillPerSecond') },
    ),
  counters: (c) => c.counters(),
  resetCounters: (c) => c.resetCounters(),
  secretVersions: (c, b) => c.secretVersions(str(b, 'name')),
  setRegenerateDelayMs: (c, b) => c.setRegenerateDelayMs(num(b, 'ms')),
  setKeyPropagationDelayMs: (c, b) => c.setKeyPropagationDelayMs(num(b, 'ms')),
  setTokenLifetimeSeconds: (c, b) => c.setTokenLifetimeSeconds(num(b, 'seconds')),
  setEndpointTokenLifetimeSeconds: (c, b) => c.setEndpointTokenLifetimeSeconds(num(b, 'seconds')),
};

/** Names of the admin methods (for docs and the CLI banner). */
export const ADMIN_METHODS = Object.keys(METHODS);

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

/** `/_emulator/{method}`: JSON admin API, no auth, loopback callers only. */
export function adminRoute(control: EmulatorControl, ctx: RequestContext): Route | undefined {
  const [root, name] = ctx.segments;
  if (root !== '_emulator' || !name || ctx.segments.length !== 2) return undefined;
  return {
    operation: 'admin',
    run: (c) => {
      if (!isLoopback(c.req.socket.remoteAddress)) return send(c, 403, { error: 'loopback only' });
      const method = METHODS[name];
      if (!method) return send(c, 404, { error: `unknown admin method '${name}'`, methods: ADMIN_METHODS });
      if (c.method !== 'POST' && !(c.method === 'GET' && name === 'counters'))
        return send(c, 405, { error: 'use POST' });
      let result: unknown;
      try {
        result = method(control, jsonBody(c) ?? {});
      } catch (error) {
        return send(c, 400, { error: error instanceof Error ? error.message : 'bad request' });
      }
      send(c, 200, result ?? { ok: true });
    },
  };
}
