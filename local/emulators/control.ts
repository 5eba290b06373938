import { randomUUID } from 'node:crypto';

import { authKeys, newKeySlots } from './keySlots';
import type { EmulatorState, EndpointRecord } from './state';
import {
  type EmulatorControl,
  type EmulatorSeed,
  type EndpointCoordinates,
  isOnlineAuthMode,
  ONLINE_AUTH_MODES,
  type OnlineAuthMode,
  type OnlineEndpointInput,
  type ServerlessEndpointInput,
} from './types';
import { v1ScoringUri } from './v1Services';
import { newV1Service, type V1ComputeType, type V1ServiceInput, type V1ServiceRecord } from './v1State';

function nonNegative(value: number, what: string): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`${what} must be a non-negative number`);
  return value;
}

/**
 * A ready endpoint (provisioning succeeded; an online one sends all traffic to deployment `blue`), its
 * workspace added when missing.
 */
function readyEndpoint(
  state: EmulatorState,
  kind: EndpointRecord['kind'],
  e: EndpointCoordinates & {
    authMode: string;
    primaryKey?: string;
    secondaryKey?: string;
    tags?: Record<string, string>;
  },
): EndpointRecord {
  if (!state.workspace(e)) state.addWorkspace(e);
  const now = new Date().toISOString();
  return {
    kind,
    subscriptionId: e.subscriptionId,
    resourceGroup: e.resourceGroup,
    workspace: e.workspace,
    name: e.name,
    authMode: e.authMode,
    keys: newKeySlots(e.primaryKey, e.secondaryKey),
    tags: { ...e.tags },
    traffic: kind === 'online' ? { blue: 100 } : {},
    provisioningState: 'Succeeded',
    principalId: randomUUID(),
    createdAt: now,
    modifiedAt: now,
  };
}

/** The {@link EmulatorControl} over one server's state. */
export function createControl(state: EmulatorState): EmulatorControl {
  /** The online or serverless endpoint or v1 service at `c`, its finished operations applied. */
  const endpointOrService = (c: EndpointCoordinates): EndpointRecord | V1ServiceRecord => {
    state.settle(Date.now());
    const e = state.endpoint('online', c) ?? state.endpoint('serverless', c) ?? state.v1.get(c);
    if (!e) throw new RangeError(`no endpoint ${c.workspace}/${c.name}`);
    return e;
  };
  const control: EmulatorControl = {
    addUserAssignedIdentity: (clientId) => ({ principalId: state.addUserAssigned(clientId).principalId }),
    addWorkspace: (ws) => void state.addWorkspace(ws),
    addOnlineEndpoint: (e: OnlineEndpointInput) => {
      if (!isOnlineAuthMode(e.authMode))
        throw new TypeError(`authMode must be one of ${ONLINE_AUTH_MODES.join(', ')}`);
      const r = readyEndpoint(state, 'online', e);
      state.putEndpoint(r);
      return { scoringUri: state.scoringUri(r) };
    },
    addServerlessEndpoint: (e: ServerlessEndpointInput) => {
      const r = readyEndpoint(state, 'serverless', { ...e, authMode: e.authMode ?? 'Key' });
      state.putEndpoint(r);
      return { scoringUri: state.scoringUri(r) };
    },
    addV1Service: (s: V1ServiceInput) => {
      if (!state.workspace(s)) state.addWorkspace(s);
      const r = newV1Service(s);
      state.v1.put(r);
      return { scoringUri: v1ScoringUri(state, r) };
    },
    deleteEndpoint: (c) => void (state.removeEndpoint(c) || state.v1.remove(c)),
    scoringUri: (c) => {
      const e = endpointOrService(c);
      return 'kind' in e ? state.scoringUri(e) : v1ScoringUri(state, e);
    },
    keys: (c) => authKeys(endpointOrService(c)),
    keyChanges: (c) => {
      const e = endpointOrService(c);
      return (e.keys.Primary.changes ?? 0) + (e.keys.Secondary.changes ?? 0);
    },
    restrictRoles: () => state.roles.restrict(),
    grantRole: (principalId, scope, role) => state.roles.grant(principalId, scope, role),
    setFault: (service, fault, scope) => state.faults.set(service, fault, scope),
    clearFaults: () => state.faults.clear(),
    setArmWriteThrottling: (t) => state.throttle.configure(t),
    counters: () => state.counters(),
    resetCounters: () => state.resetCounters(),
    secretVersions: (name) =>
      state.secrets
        .versions(name)
        .map((v) => ({ version: v.version, value: v.value, enabled: v.enabled, tags: { ...v.tags } })),
    setRegenerateDelayMs: (ms) => void (state.settings.regenerateDelayMs = nonNegative(ms, 'ms')),
    setLifecycleDelayMs: (ms) => void (state.settings.lifecycleDelayMs = nonNegative(ms, 'ms')),
    setKeyPropagationDelayMs: (ms) => void (state.settings.keyPropagationDelayMs = nonNegative(ms, 'ms')),
    setTokenLifetimeSeconds: (s) => void (state.settings.tokenLifetimeSeconds = nonNegative(s, 'seconds')),
    setEndpointTokenLifetimeSeconds: (s) =>
      void (state.settings.endpointTokenLifetimeSeconds = nonNegative(s, 'seconds')),
    seed: (data: EmulatorSeed) => {
      for (const id of data.userAssignedIdentities ?? []) state.addUserAssigned(id);
      for (const ws of data.workspaces ?? []) state.addWorkspace(ws);
      for (const e of data.onlineEndpoints ?? [])
        control.addOnlineEndpoint({ ...e, authMode: e.authMode as OnlineAuthMode });
      for (const e of data.serverlessEndpoints ?? []) {
        if (e.authMode !== undefined && e.authMode !== 'Key' && e.authMode !== 'None')
          throw new TypeError('serverless authMode must be Key or None');
        control.addServerlessEndpoint({ ...e, authMode: e.authMode ?? 'Key' });
      }
      for (const s of data.v1Services ?? [])
        control.addV1Service({ ...s, computeType: s.computeType as V1ComputeType });
    },
  };
  return control;
}
