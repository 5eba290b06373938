import type { ArmCoordinates } from '../endpoints/ManagedEndpoint';

const ONLINE_ENDPOINT_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.MachineLearningServices\/workspaces\/([^/]+)\/onlineEndpoints\/([^/]+)\/?$/i;
const SERVERLESS_ENDPOINT_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.MachineLearningServices\/workspaces\/([^/]+)\/serverlessEndpoints\/([^/]+)\/?$/i;
const WORKSPACE_ID =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/Microsoft\.MachineLearningServices\/workspaces\/([^/]+)\/?$/i;
const RESOURCE_GROUP_ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/?$/i;

/** A workspace, or a whole resource group when `workspace` is absent: what one delete takes with it. */
export type ArmScope = Pick<ArmCoordinates, 'subscriptionId' | 'resourceGroup'> & {
  readonly workspace?: string;
};

/**
 * Parses an online endpoint's ARM resource id. Sub-resources (deployments) and other resource types
 * give undefined: only the endpoint itself carries keys.
 */
export function parseOnlineEndpointId(resourceId: string): ArmCoordinates | undefined {
  return parseEndpointId(ONLINE_ENDPOINT_ID, resourceId);
}

/**
 * Parses a serverless endpoint's ARM resource id (`…/workspaces/{ws}/serverlessEndpoints/{name}`), as a
 * serverless registration's `arm` names it.
 */
export function parseServerlessEndpointId(resourceId: string): ArmCoordinates | undefined {
  return parseEndpointId(SERVERLESS_ENDPOINT_ID, resourceId);
}

/** The coordinates of an endpoint id matched by `pattern` (subscription, group, workspace, name). */
function parseEndpointId(pattern: RegExp, resourceId: string): ArmCoordinates | undefined {
  const m = pattern.exec(resourceId.trim());
  if (!m) return undefined;
  return { subscriptionId: m[1] ?? '', resourceGroup: m[2] ?? '', workspace: m[3] ?? '', name: m[4] ?? '' };
}

/** Parses a workspace resource id (the `topic`/`source` of Azure ML events). */
export function parseWorkspaceId(resourceId: string): Omit<ArmCoordinates, 'name'> | undefined {
  const m = WORKSPACE_ID.exec(resourceId.trim());
  if (!m) return undefined;
  return { subscriptionId: m[1] ?? '', resourceGroup: m[2] ?? '', workspace: m[3] ?? '' };
}

/** Parses a resource group's id (`/subscriptions/{sub}/resourceGroups/{rg}`, the subject of its delete). */
export function parseResourceGroupId(resourceId: string): ArmScope | undefined {
  const m = RESOURCE_GROUP_ID.exec(resourceId.trim());
  if (!m) return undefined;
  return { subscriptionId: m[1] ?? '', resourceGroup: m[2] ?? '' };
}

/** True when the endpoint at `arm` lies in `scope`'s workspace, or resource group (ARM names are case-insensitive). */
export function withinScope(arm: ArmCoordinates, scope: ArmScope): boolean {
  return (
    eq(arm.subscriptionId, scope.subscriptionId) &&
    eq(arm.resourceGroup, scope.resourceGroup) &&
    (scope.workspace === undefined || eq(arm.workspace, scope.workspace))
  );
}

const eq = (x: string, y: string): boolean => x.toLowerCase() === y.toLowerCase();

/** Our endpoint id for an auto-registered endpoint: `<workspace>-<name>`, lowercase, 3-63 characters. */
export function deriveEndpointId(coords: ArmCoordinates): string {
  const slug = `${coords.workspace}-${coords.name}`
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-|-$/g, '');
  return slug.slice(0, 63).replace(/-$/, '').padEnd(3, '0');
}

/** Key Vault secret name for an auto-registered endpoint (letters, digits, hyphens; at most 127). */
export function deriveSecretName(endpointId: string): string {
  return `aml-${endpointId}-key`.slice(0, 127);
}

/**
 * Auto-registration filter (`AUTO_REGISTER_TAG`): comma-separated entries, each `tag`, `tag=value`
 * or `name:<pattern>` (endpoint name, `*` wildcard). Any entry matching is enough.
 */
export function matchesAutoRegisterFilter(
  filter: string,
  endpointName: string,
  tags: Readonly<Record<string, string>>,
): boolean {
  const lowerTags = new Map(Object.entries(tags).map(([k, v]) => [k.toLowerCase(), v]));
  return filter
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .some((entry) => {
      if (entry.toLowerCase().startsWith('name:')) {
        const pattern = entry
          .slice(5)
          .trim()
          .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*');
        return new RegExp(`^${pattern}$`, 'i').test(endpointName);
      }
      const [tag = '', value] = entry.split('=', 2).map((s) => s.trim());
      const actual = lowerTags.get(tag.toLowerCase());
      return actual !== undefined && (value === undefined || actual === value);
    });
}
