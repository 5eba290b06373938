import type { ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import { fitsEndpointIdRule } from '../endpoints/validateEndpoint';

/**
 * Scope syntax shared by the three protocols and the admin API. A scope names either one managed
 * endpoint (`<endpointId>` or `<endpointId>/.default`) or one resource URI (`https://ml.azure.com` or
 * `https://ml.azure.com/.default`). Scopes are normalised before the allow-list check, so a client
 * granted `https://ml.azure.com` may ask for `https://ml.azure.com/.default` or `https://ml.azure.com/`.
 */

/** A scope after normalisation. */
export interface ParsedScope {
  readonly kind: 'endpoint' | 'resource';
  /** Endpoint id, or resource URI without `/.default` and trailing slash (lowercase scheme and host). */
  readonly value: string;
}

const DEFAULT_SUFFIX = '/.default';
const MAX_SCOPE_LENGTH = 512;

/** What the token cache may hold for one endpoint: its AML token, its key, or its v1 service token. */
export const ENDPOINT_TOKEN_KINDS = ['aml', 'key', 'v1'] as const;

/** The token cache key of one endpoint's token or key (the broker drops all of them on a change). */
export function endpointCacheKey(kind: (typeof ENDPOINT_TOKEN_KINDS)[number], endpointId: string): string {
  return `${kind}:${endpointId}`;
}

/**
 * What an endpoint's token or key is fetched from: the fields the upstream sources read (ARM
 * coordinates, kind and v1 host; the Key Vault secret and the periods a key's lifetime and refresh
 * derive from), and the registration's generation (`createdAt`, `reinstatedAt`). The token cache hands a
 * cached token only to requests for the same origin, so an endpoint changed on another instance
 * (re-registered elsewhere under its id, `arm` or `secretName` patched) is served from the new origin once
 * this instance's lookup runs out, not from a token or key of the old one until that would have been
 * refreshed. The generation covers an endpoint deleted in Azure and created again at the same coordinates:
 * its row is retired and then reinstated (or `DELETE`d and registered again under the id), and a token
 * fetched for the resource that was deleted is not one for the resource there now. Fields that only
 * change with such an event are in it, not `updatedAt`: a PATCH of, say, the probe keeps the cached token.
 * Computed once per endpoint lookup (`ScopeResolver`), never per request.
 */
export function endpointOrigin(endpoint: ManagedEndpoint): string {
  const { arm, v1 } = endpoint;
  return JSON.stringify([
    endpoint.createdAt,
    endpoint.reinstatedAt ?? '',
    endpoint.kind,
    arm.subscriptionId,
    arm.resourceGroup,
    arm.workspace,
    arm.name,
    v1?.computeType ?? '',
    v1?.region ?? '',
    endpoint.secretName,
    endpoint.gracePeriodHours,
    endpoint.rotationPeriodHours,
  ]);
}

/**
 * Hosts of the resources on which the app's own identity holds the rights that run the app: ARM (it reads
 * and regenerates every endpoint's keys), Key Vault (every managed key and the pepper), Storage (the client
 * registry, journal and audit trail) and Event Grid. A token for one of them would hand a client the app's
 * powers, not a client's, so no client may be allowed one and the broker never vends one.
 */
const PRIVILEGED_RESOURCE_HOSTS: readonly RegExp[] = [
  /^management\.(azure\.com|core\.windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)$/, // ARM
  /^([^.]+\.)?(vault|managedhsm)\.(azure\.net|usgovcloudapi\.net|azure\.cn)$/, // Key Vault, Managed HSM
  /^storage\.azure\.com$/, // Storage, any account
  /^[^.]+\.(blob|queue|table|file|dfs)\.core\.(windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)$/, // one account
  /^eventgrid\.azure\.net$/, // Event Grid
];

/** Whether the scope is a resource whose token would carry the app's own rights (see above). */
export function isPrivilegedResource(scope: ParsedScope): boolean {
  if (scope.kind !== 'resource') return false;
  const host = new URL(scope.value).hostname; // lowercase, as URL gives it
  return PRIVILEGED_RESOURCE_HOSTS.some((pattern) => pattern.test(host));
}

/** The resource of Entra tokens for Azure ML scoring (`AADToken` endpoints). */
export const ML_RESOURCE = 'https://ml.azure.com';

/**
 * Parses one scope; undefined when it is neither an endpoint id nor an `https` resource URI.
 * @param raw - the scope as the client sent it
 * @example parseScope('https://ml.azure.com/.default') // { kind: 'resource', value: 'https://ml.azure.com' }
 */
export function parseScope(raw: string): ParsedScope | undefined {
  if (raw.length === 0 || raw.length > MAX_SCOPE_LENGTH) return undefined;
  const bare = raw.endsWith(DEFAULT_SUFFIX) ? raw.slice(0, -DEFAULT_SUFFIX.length) : raw;
  // The registry's own rule (`isEndpointId`): an id it would refuse (`ab`, `churn-`) names no endpoint that can exist, so
  // it is a mistake in the request (400 ScopeMalformed), not a grant the client lacks (403). The broker
  // caches each scope's parse, so the rule's cost is paid once per scope.
  if (fitsEndpointIdRule(bare)) return { kind: 'endpoint', value: bare };
  if (!/^https:\/\//i.test(bare)) return undefined;
  let url: URL;
  try {
    url = new URL(bare);
  } catch {
    return undefined;
  }
  if (url.username || url.password || url.search || url.hash || bare.includes('#') || bare.includes('?')) {
    return undefined;
  }
  const path = url.pathname.replace(/\/+$/, '');
  return { kind: 'resource', value: `${url.protocol}//${url.host}${path}` };
}
