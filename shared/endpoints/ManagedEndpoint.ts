/**
 * The endpoints the app looks after. Shared by rotation (keys) and the broker (tokens); stored in the
 * endpoint registry table or declared in `ENDPOINTS_FILE`.
 */

/** Kinds of Azure ML endpoint the app knows. */
export const ENDPOINT_KINDS = ['onlineEndpoint', 'serverlessEndpoint', 'v1WebService'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];

/** Compute types of Azure ML SDK v1 web services (`computeType` in the model-management API). */
export const V1_COMPUTE_TYPES = ['AKS', 'ACI'] as const;
export type V1ComputeType = (typeof V1_COMPUTE_TYPES)[number];

/**
 * Where a v1 web service runs. Its model-management (MMS) host is the workspace region's; the host is
 * derived from `V1_MMS_HOST_TEMPLATE` with `{region}` replaced (the exact derivation Azure uses is not
 * documented, hence a setting).
 */
export interface V1ServiceSpec {
  readonly computeType: V1ComputeType;
  /** Azure region of the workspace, e.g. `westeurope`. */
  readonly region: string;
}

/** How callers authenticate at the scoring URI (`properties.authMode` in ARM). */
export const AUTH_MODES = ['Key', 'AMLToken', 'AADToken'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** Whether `kind` is one this version knows (a newer one may register others: see `unknownHere`). */
export function isKnownKind(kind: unknown): kind is EndpointKind {
  return ENDPOINT_KINDS.some((known) => known === kind);
}

/** Whether `authMode` is one this version knows (a newer one may register others: see `unknownHere`). */
export function isKnownAuthMode(authMode: unknown): authMode is AuthMode {
  return AUTH_MODES.some((known) => known === authMode);
}

/**
 * Which of the endpoint's `kind` and `authMode` this version does not know, if any. During a rolling
 * deployment (or after a rollback) a newer version may have registered an endpoint of a kind or auth
 * mode added since; such a value is no cause to act (architecture.md, "Rolling deployments"): the
 * endpoint is read and shown, but neither brokered nor rotated here.
 */
export function unknownHere(
  endpoint: Pick<ManagedEndpoint, 'kind' | 'authMode'>,
): 'kind' | 'authMode' | undefined {
  if (!isKnownKind(endpoint.kind)) return 'kind';
  return isKnownAuthMode(endpoint.authMode) ? undefined : 'authMode';
}

/** The two key slots of an endpoint (`keyType` in ARM). */
export const KEY_SLOTS = ['Primary', 'Secondary'] as const;
export type KeySlot = (typeof KEY_SLOTS)[number];

/** Whether `value` names a key slot, e.g. a Key Vault tag read back (tags are any text). */
export function isKeySlot(value: unknown): value is KeySlot {
  return KEY_SLOTS.some((slot) => slot === value);
}

/** Returns the slot that is not `slot`. */
export function otherSlot(slot: KeySlot): KeySlot {
  return slot === 'Primary' ? 'Secondary' : 'Primary';
}

/** Where the endpoint lives in Azure Resource Manager. */
export interface ArmCoordinates {
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  readonly workspace: string;
  /** Endpoint (or v1 service) name in the workspace. */
  readonly name: string;
}

/** The fields of {@link ArmCoordinates}, as input and stored rows are checked for them. */
export const ARM_FIELDS = [
  'subscriptionId',
  'resourceGroup',
  'workspace',
  'name',
] as const satisfies readonly (keyof ArmCoordinates)[];

/** How the rotation's test step calls the scoring URI with a new key. */
export interface ScoringProbeSpec {
  readonly method: 'POST' | 'GET';
  /** Appended to the scoring URI; empty for the URI itself. */
  readonly path: string;
  /** Request body sent with POST (JSON text). */
  readonly body: string;
  /** Statuses that count as "the key was accepted" (auth passed, whatever the model said). */
  readonly acceptedStatuses: readonly number[];
}

/** One hour in ms: an endpoint's periods are set in hours (`rotationPeriodHours`, `gracePeriodHours`). */
export const HOUR_MS = 3_600_000;

/** An endpoint under the app's care. */
export interface ManagedEndpoint {
  /** Our name for it: lowercase letters, digits and hyphens, 3-63 characters. */
  readonly id: string;
  readonly kind: EndpointKind;
  readonly arm: ArmCoordinates;
  readonly authMode: AuthMode;
  /** Key Vault secret that holds the current key (Key auth); `<secretName>-pending` is the pending secret. */
  readonly secretName: string;
  readonly rotationPeriodHours: number;
  readonly gracePeriodHours: number;
  readonly probe: ScoringProbeSpec;
  /** Required for (and only for) kind `v1WebService`. Auth mode `Key` = key auth, `AMLToken` = token auth. */
  readonly v1?: V1ServiceSpec;
  /** The broker may hand out this endpoint's key to clients that also opted in. */
  readonly brokerKeyAccess: boolean;
  /** Disabled endpoints are neither rotated nor brokered. */
  readonly enabled: boolean;
  /** Set when the endpoint was deleted in Azure; kept for history, never rotated. */
  readonly retiredAt?: string;
  /** When a retired endpoint was last taken back (re-created in Azure under the same name). */
  readonly reinstatedAt?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * True when the endpoint was registered, or last reinstated, after `time` (an Azure delete's time): a
 * delete from before, delivered late (Event Grid retries for a day), was of the resource before it was
 * re-created, not of the one in service now. A time that is not a date says nothing.
 */
export function registeredAfter(
  endpoint: { readonly createdAt?: string; readonly reinstatedAt?: string },
  time: string,
): boolean {
  const deleted = Date.parse(time);
  return [endpoint.createdAt, endpoint.reinstatedAt].some(
    (since) => since !== undefined && Date.parse(since) > deleted,
  );
}

/**
 * `secretName` as Key Vault tells secrets apart: object names ignore case, so two names that differ
 * only in case are one secret (learn.microsoft.com, "About keys, secrets, and certificates").
 */
export function secretIdentity(secretName: string): string {
  return secretName.toLowerCase();
}

/**
 * The resource an endpoint's `kind` and `arm` name, as Azure tells resources apart: ARM names ignore
 * case, so two registrations that differ only in case are one endpoint; the kind is part of it, as an
 * online endpoint, a serverless endpoint and a v1 web service of one name in a workspace are three. Each
 * part is URI-encoded, so that no name can run into the next and none puts a character into a Table row
 * key that storage refuses. Undefined for a value whose `arm` is not four strings; a `ManagedEndpoint`'s
 * always is (`validateEndpoint` and the registry's reading of a stored row check it), so its identity is
 * a string.
 */
export function armIdentity(endpoint: Pick<ManagedEndpoint, 'kind' | 'arm'>): string;
export function armIdentity(endpoint: {
  readonly kind: string;
  readonly arm?: Partial<Record<keyof ArmCoordinates, unknown>>;
}): string | undefined;
export function armIdentity(endpoint: {
  readonly kind: string;
  readonly arm?: Partial<Record<keyof ArmCoordinates, unknown>>;
}): string | undefined {
  const { kind, arm } = endpoint;
  const parts = [kind, arm?.subscriptionId, arm?.resourceGroup, arm?.workspace, arm?.name];
  if (!parts.every((part): part is string => typeof part === 'string')) return undefined;
  return parts.map((part) => encodeURIComponent(part.toLowerCase())).join('~');
}
