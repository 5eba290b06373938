import type { IncomingMessage } from 'node:http';

import type { TokenCheck } from './auth';
import type { V1ServiceInput } from './v1State';

/** Public surface of the local Azure stand-ins. */

/** Which stand-in a fault applies to. */
export type EmulatedService = 'identity' | 'keyVault' | 'arm' | 'scoring' | 'modelManagement';

/** Online endpoint auth modes the ARM stand-in knows (KnownEndpointAuthMode). */
export const ONLINE_AUTH_MODES = ['Key', 'AMLToken', 'AADToken'] as const;

/** One of {@link ONLINE_AUTH_MODES}. */
export type OnlineAuthMode = (typeof ONLINE_AUTH_MODES)[number];

/** Whether `value` is an online endpoint auth mode (seed JSON and request bodies carry plain strings). */
export function isOnlineAuthMode(value: unknown): value is OnlineAuthMode {
  return (ONLINE_AUTH_MODES as readonly unknown[]).includes(value);
}

/** A fault injected into every request of one service until cleared. */
export interface Fault {
  /** Delay before answering (or before the fault takes effect). */
  latencyMs?: number;
  /** Answer this status with the service's own error body (e.g. 500, 503, 429). */
  status?: number;
  /** Retry-After for 429/503 answers (default 1). */
  retryAfterSeconds?: number;
  /** Destroy the connection without an answer (connection reset). */
  outage?: boolean;
  /** Share of requests hit, 0..1 (default 1). */
  probability?: number;
}

/** Where an ARM resource lives. */
export interface WorkspaceCoordinates {
  subscriptionId: string;
  resourceGroup: string;
  workspace: string;
}

/** An endpoint's ARM coordinates. */
export interface EndpointCoordinates extends WorkspaceCoordinates {
  name: string;
}

/** Input of {@link EmulatorControl.addOnlineEndpoint}. */
export interface OnlineEndpointInput extends EndpointCoordinates {
  authMode: OnlineAuthMode;
  primaryKey?: string;
  secondaryKey?: string;
  tags?: Record<string, string>;
}

/** Input of {@link EmulatorControl.addServerlessEndpoint}. */
export interface ServerlessEndpointInput extends EndpointCoordinates {
  authMode?: 'Key' | 'None';
  primaryKey?: string;
  secondaryKey?: string;
}

/** Demo or test data loaded in one call (`seed.demo.json` has this shape). */
export interface EmulatorSeed {
  workspaces?: ReadonlyArray<WorkspaceCoordinates & { location?: string }>;
  /** `authMode` is checked at run time so that imported JSON (typed `string`) fits. */
  onlineEndpoints?: ReadonlyArray<
    EndpointCoordinates & {
      authMode: string;
      primaryKey?: string;
      secondaryKey?: string;
      tags?: Record<string, string>;
    }
  >;
  serverlessEndpoints?: ReadonlyArray<
    EndpointCoordinates & { authMode?: string; primaryKey?: string; secondaryKey?: string }
  >;
  userAssignedIdentities?: ReadonlyArray<string>;
  /** Azure ML SDK v1 web services; `computeType` is checked at run time (AKS or ACI). */
  v1Services?: ReadonlyArray<
    EndpointCoordinates & {
      computeType: string;
      authEnabled?: boolean;
      tokenAuthEnabled?: boolean;
      primaryKey?: string;
      secondaryKey?: string;
    }
  >;
}

/** One stored secret version, for test assertions. */
export interface SecretVersionView {
  version: string;
  value: string;
  enabled: boolean;
  tags: Record<string, string>;
}

/** Drives the stand-ins from tests, benchmarks and `npm start` (also served as `/_emulator/*`). */
export interface EmulatorControl {
  addUserAssignedIdentity(clientId: string): { principalId: string };
  addWorkspace(ws: WorkspaceCoordinates & { location?: string }): void;
  addOnlineEndpoint(e: OnlineEndpointInput): { scoringUri: string };
  addServerlessEndpoint(e: ServerlessEndpointInput): { scoringUri: string };
  /** Adds an Azure ML SDK v1 web service (AKS or ACI) with the v1 auth defaults and rules. */
  addV1Service(s: V1ServiceInput): { scoringUri: string };
  deleteEndpoint(coords: EndpointCoordinates): void;
  /**
   * Scoring URI of an online or serverless endpoint or v1 service, as the management API's GET answers it
   * (`npm start` prints the demo's, whose seed does not return them).
   */
  scoringUri(coords: EndpointCoordinates): string;
  /** Current keys of an endpoint or v1 service (for assertions; never log them). */
  keys(coords: EndpointCoordinates): { primaryKey: string; secondaryKey: string };
  /**
   * How many times a key of the endpoint changed value. Unlike a count of regenerate calls, a call
   * retried with the same `keyValue` (its answer was lost) does not count: it changes nothing.
   */
  keyChanges(coords: EndpointCoordinates): number;
  /** Role model: by default every principal has every role everywhere; call restrictRoles() to enforce grants. */
  restrictRoles(): void;
  /** scope: an ARM id prefix (e.g. `/subscriptions/x/resourceGroups/y`) or `keyvault`; role: a built-in role name or one action string. */
  grantRole(principalId: string, scope: string, role: string): void;
  /** `scope` narrows a `modelManagement` fault to one region (a regional outage). */
  setFault(service: EmulatedService, fault: Fault | undefined, scope?: string): void;
  clearFaults(): void;
  /** ARM write bucket (per subscription and principal); off by default. */
  setArmWriteThrottling(t: { capacity: number; refillPerSecond: number } | undefined): void;
  counters(): Record<string, number>;
  resetCounters(): void;
  /** Versions of a secret, oldest first. */
  secretVersions(name: string): SecretVersionView[];
  /** How long a regenerateKeys operation stays in progress (default 200). */
  setRegenerateDelayMs(ms: number): void;
  /** How long an endpoint create/update/delete operation stays in progress (default 100). */
  setLifecycleDelayMs(ms: number): void;
  /** How long until a regenerated key is accepted at scoring (default 0); the replaced key works until then. */
  setKeyPropagationDelayMs(ms: number): void;
  /** Lifetime of managed-identity tokens (default 3600). */
  setTokenLifetimeSeconds(seconds: number): void;
  /** Lifetime of AML endpoint tokens and v1 service tokens from POST .../token (default 86400, refresh after half). */
  setEndpointTokenLifetimeSeconds(seconds: number): void;
  /** Loads workspaces, endpoints and identities (e.g. `seed.demo.json`). */
  seed(data: EmulatorSeed): void;
}

/** Options of {@link startEmulators}. */
export interface EmulatorOptions {
  /** 0 = random free port. */
  port?: number;
  certPath: string;
  keyPath: string;
  /** The `X-IDENTITY-HEADER` value apps must send (random when omitted). */
  identityHeader?: string;
  /** Receives one line per request (method, path, status); never a key or token. */
  log?: (line: string) => void;
}

/** A running emulator server. */
export interface RunningEmulators {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** url + '/msi/token' */
  readonly identityEndpoint: string;
  readonly identityHeader: string;
  /** oid of the system-assigned identity. */
  readonly systemPrincipalId: string;
  /** Tenant of every token the stand-ins issue. */
  readonly tenantId: string;
  readonly control: EmulatorControl;
  /**
   * Checks the request's `Authorization: Bearer` token as the stand-ins served here do (issued by this
   * identity stand-in, live, for one of `audiences`), for a stand-in served elsewhere (the Event Grid topic).
   */
  readonly checkToken: (req: IncomingMessage, audiences: readonly string[]) => TokenCheck;
  stop(): Promise<void>;
}
