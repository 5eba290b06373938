import { randomUUID } from 'node:crypto';

import { FaultInjector, WriteThrottle } from './faults';
import { JwtIssuer } from './jwt';
import type { KeyedRecord, KeySlotState } from './keySlots';
import { RoleModel } from './roles';
import { SecretStore } from './secretStore';
import type { EndpointCoordinates, WorkspaceCoordinates } from './types';
import { V1ServiceStore } from './v1State';

/** A managed identity the identity stand-in can issue tokens for. */
export interface IdentityRecord {
  readonly clientId: string;
  readonly principalId: string;
  readonly resourceId: string;
}

/** A workspace (ARM parent of endpoints). */
export interface WorkspaceRecord extends WorkspaceCoordinates {
  readonly location: string;
  /** The workspace's GUID (AML tokens carry it as `workspaceId`). */
  readonly workspaceId: string;
}

/** An online or serverless endpoint. */
export interface EndpointRecord extends EndpointCoordinates {
  readonly kind: 'online' | 'serverless';
  authMode: string;
  readonly keys: { Primary: KeySlotState; Secondary: KeySlotState };
  tags: Record<string, string>;
  traffic: Record<string, number>;
  provisioningState: string;
  readonly principalId: string;
  readonly createdAt: string;
  modifiedAt: string;
}

/** A long-running ARM operation (regenerateKeys, createOrUpdate, delete). */
export interface OperationRecord {
  readonly id: string;
  readonly subscriptionId: string;
  readonly location: string;
  readonly startedAt: number;
  readonly completeAt: number;
  done: boolean;
  /** Runs at completion; what it returns is the body of the operation result (mfeOperationResults). */
  readonly complete: (at: number) => unknown;
  /** Body of the operation result once done (e.g. the keys of a serverless regenerateKeys). */
  result?: unknown;
}

function lower(...parts: string[]): string {
  return parts.join('/').toLowerCase();
}

/** Everything the stand-ins share; one instance per server. */
export class EmulatorState {
  url = '';
  readonly tenantId = randomUUID();
  readonly jwt = new JwtIssuer();
  readonly roles = new RoleModel();
  readonly secrets = new SecretStore();
  readonly faults = new FaultInjector();
  readonly throttle = new WriteThrottle();
  readonly system: IdentityRecord;
  readonly userAssigned = new Map<string, IdentityRecord>();
  readonly workspaces = new Map<string, WorkspaceRecord>();
  readonly endpoints = new Map<string, EndpointRecord>();
  readonly operations = new Map<string, OperationRecord>();
  /** Azure ML SDK v1 web services (model-management stand-in). */
  readonly v1 = new V1ServiceStore();
  private readonly counterMap = new Map<string, number>();
  settings = {
    tokenLifetimeSeconds: 3600,
    endpointTokenLifetimeSeconds: 86400,
    regenerateDelayMs: 200,
    // Create/update/delete took seconds in the recording; tests want speed.
    lifecycleDelayMs: 100,
    keyPropagationDelayMs: 0,
  };

  constructor(readonly identityHeader: string) {
    this.system = { clientId: randomUUID(), principalId: randomUUID(), resourceId: '' };
  }

  /** Adds one to a counter. */
  count(name: string): void {
    this.counterMap.set(name, (this.counterMap.get(name) ?? 0) + 1);
  }

  /** Snapshot of all counters. */
  counters(): Record<string, number> {
    return Object.fromEntries([...this.counterMap.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  /** Sets all counters back to zero. */
  resetCounters(): void {
    this.counterMap.clear();
  }

  /** Adds (or returns) a user-assigned identity. */
  addUserAssigned(clientId: string): IdentityRecord {
    const existing = this.userAssigned.get(clientId.toLowerCase());
    if (existing) return existing;
    const principalId = randomUUID();
    const record = {
      clientId,
      principalId,
      resourceId: `/subscriptions/${randomUUID()}/resourceGroups/identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${clientId}`,
    };
    this.userAssigned.set(clientId.toLowerCase(), record);
    return record;
  }

  /** Adds a workspace; adding it again keeps the existing one. */
  addWorkspace(ws: WorkspaceCoordinates & { location?: string }): WorkspaceRecord {
    const key = lower(ws.subscriptionId, ws.resourceGroup, ws.workspace);
    const existing = this.workspaces.get(key);
    if (existing) return existing;
    const record = { ...ws, location: ws.location ?? 'westeurope', workspaceId: randomUUID() };
    this.workspaces.set(key, record);
    return record;
  }

  /** A workspace by coordinates. */
  workspace(ws: WorkspaceCoordinates): WorkspaceRecord | undefined {
    return this.workspaces.get(lower(ws.subscriptionId, ws.resourceGroup, ws.workspace));
  }

  /** Stores an endpoint (replacing one with the same coordinates and kind). */
  putEndpoint(endpoint: EndpointRecord): void {
    this.endpoints.set(this.endpointKey(endpoint.kind, endpoint), endpoint);
  }

  /** An endpoint by kind and coordinates. */
  endpoint(kind: EndpointRecord['kind'], c: EndpointCoordinates): EndpointRecord | undefined {
    return this.endpoints.get(this.endpointKey(kind, c));
  }

  /** Removes an endpoint of one kind, or of either kind when `kind` is omitted. */
  removeEndpoint(c: EndpointCoordinates, kind?: EndpointRecord['kind']): boolean {
    const online = kind !== 'serverless' && this.endpoints.delete(this.endpointKey('online', c));
    const serverless = kind !== 'online' && this.endpoints.delete(this.endpointKey('serverless', c));
    return online || serverless;
  }

  /** The endpoint whose scoring path is `/inference/{workspace}/{name}`. */
  endpointForScoring(workspace: string, name: string): EndpointRecord | undefined {
    for (const e of this.endpoints.values()) {
      if (
        e.workspace.toLowerCase() === workspace.toLowerCase() &&
        e.name.toLowerCase() === name.toLowerCase()
      )
        return e;
    }
    return undefined;
  }

  /** Scoring URI of an endpoint on this server. */
  scoringUri(e: EndpointCoordinates & { kind: EndpointRecord['kind'] }): string {
    const base = `${this.url}/inference/${encodeURIComponent(e.workspace)}/${encodeURIComponent(e.name)}`;
    return e.kind === 'online' ? `${base}/score` : base;
  }

  /** The operation `id` (any case) when it was started in `subscriptionId`: no other subscription finds it. */
  operationIn(subscriptionId: string, id: string): OperationRecord | undefined {
    const op = this.operations.get(id.toLowerCase());
    return op?.subscriptionId.toLowerCase() === subscriptionId.toLowerCase() ? op : undefined;
  }

  /** Completes every operation whose time has come (lazily, so no timers outlive the server). */
  settle(now: number): void {
    for (const op of this.operations.values()) {
      if (!op.done && op.completeAt <= now) {
        op.done = true;
        op.result = op.complete(op.completeAt);
      }
    }
  }

  /** Sets a key slot to `value` at time `at`; scoring keeps accepting the old value until propagation. */
  setKey(e: KeyedRecord, slot: 'Primary' | 'Secondary', value: string, at: number): void {
    const current = e.keys[slot];
    const stillOld = at < current.activeAt ? current.previous : current.value;
    e.keys[slot] = {
      value,
      activeAt: at + this.settings.keyPropagationDelayMs,
      changes: (current.changes ?? 0) + (value === current.value ? 0 : 1),
      ...(stillOld !== undefined ? { previous: stillOld } : {}),
    };
    e.modifiedAt = new Date(at).toISOString();
  }

  private endpointKey(kind: string, c: EndpointCoordinates): string {
    return lower(c.subscriptionId, c.resourceGroup, c.workspace, kind, c.name);
  }
}
