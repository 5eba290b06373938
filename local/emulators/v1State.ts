import { randomUUID } from 'node:crypto';

import { type KeySlotState, newKeySlots } from './keySlots';
import type { EndpointCoordinates } from './types';

/** Compute types of the v1 web services the stand-in serves (MMS `computeType`). */
export type V1ComputeType = 'AKS' | 'ACI';

/** One Azure ML SDK v1 web service as the model-management stand-in keeps it. */
export interface V1ServiceRecord extends EndpointCoordinates {
  readonly computeType: V1ComputeType;
  /** Key auth (`auth_enabled`): on by default for AKS, off for ACI (the v1 SDK's defaults). */
  readonly authEnabled: boolean;
  /** Token auth (`token_auth_enabled`, `aadAuthEnabled` on the wire): AKS only, off by default. */
  readonly tokenAuthEnabled: boolean;
  readonly keys: { Primary: KeySlotState; Secondary: KeySlotState };
  readonly serviceId: string;
  readonly createdAt: string;
  modifiedAt: string;
}

function key(c: EndpointCoordinates): string {
  return [c.subscriptionId, c.resourceGroup, c.workspace, c.name].join('/').toLowerCase();
}

/** The v1 services of one emulator, by coordinates. */
export class V1ServiceStore {
  private readonly services = new Map<string, V1ServiceRecord>();

  /** Stores (or replaces) a service. */
  put(service: V1ServiceRecord): void {
    this.services.set(key(service), service);
  }

  /** A service by coordinates. */
  get(c: EndpointCoordinates): V1ServiceRecord | undefined {
    return this.services.get(key(c));
  }

  /** Removes a service; true when one was there. */
  remove(c: EndpointCoordinates): boolean {
    return this.services.delete(key(c));
  }

  /** The service whose scoring path is `/v1/{workspace}/{name}/score`. */
  forScoring(workspace: string, name: string): V1ServiceRecord | undefined {
    for (const s of this.services.values())
      if (
        s.workspace.toLowerCase() === workspace.toLowerCase() &&
        s.name.toLowerCase() === name.toLowerCase()
      )
        return s;
    return undefined;
  }
}

/** Input of `EmulatorControl.addV1Service`. */
export interface V1ServiceInput extends EndpointCoordinates {
  computeType: V1ComputeType;
  /** @default true for AKS, false for ACI (the v1 defaults) */
  authEnabled?: boolean;
  /** @default false */
  tokenAuthEnabled?: boolean;
  primaryKey?: string;
  secondaryKey?: string;
}

/**
 * Builds a service record, applying the v1 defaults and refusing what the v1 SDK refuses: token auth
 * on ACI, and key and token auth on at the same time.
 */
export function newV1Service(input: V1ServiceInput): V1ServiceRecord {
  if (input.computeType !== 'AKS' && input.computeType !== 'ACI')
    throw new TypeError('computeType must be AKS or ACI');
  const authEnabled = input.authEnabled ?? input.computeType === 'AKS';
  const tokenAuthEnabled = input.tokenAuthEnabled ?? false;
  if (tokenAuthEnabled && input.computeType !== 'AKS')
    throw new TypeError('token auth is only supported on AKS web services');
  if (tokenAuthEnabled && authEnabled)
    throw new TypeError('key auth and token auth cannot both be enabled (set authEnabled: false)');
  const now = new Date().toISOString();
  return {
    subscriptionId: input.subscriptionId,
    resourceGroup: input.resourceGroup,
    workspace: input.workspace,
    name: input.name,
    computeType: input.computeType,
    authEnabled,
    tokenAuthEnabled,
    keys: newKeySlots(input.primaryKey, input.secondaryKey),
    serviceId: randomUUID(),
    createdAt: now,
    modifiedAt: now,
  };
}
