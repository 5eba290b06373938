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

/**
 * ARM's message refusing `apiVersion` for `resourceType` (400 NoRegisteredProviderFound), or undefined
 * when the provider registered the type in that api-version.
 * @param location - the workspace's region, which ARM names in the message
 */
export function unregisteredApiVersion(
  apiVersion: string,
  resourceType: string | undefined,
  location: string,
): string | undefined {
  if (apiVersionRegistered(apiVersion, resourceType)) return undefined;
  const first = resourceType ? FIRST_API_VERSIONS[resourceType] : undefined;
  return (
    `No registered resource provider found for location '${location}' and API version '${apiVersion}' for type '${resourceType ?? 'locations'}'.` +
    (first
      ? ` The supported api-versions are '${first.stable}' and later, and previews from '${first.preview}'.`
      : '')
  );
}
