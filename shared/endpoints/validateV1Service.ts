import type { FieldIssue } from '../errors';
import { isObject } from '../isObject';
import { type AuthMode, type EndpointKind, V1_COMPUTE_TYPES, type V1ServiceSpec } from './ManagedEndpoint';

const REGION = /^[a-z][a-z0-9]{1,39}$/;

/**
 * Validates the `v1` field against the kind and auth mode, with the v1 rules that can be checked
 * without calling Azure (the v1 documentation): token auth exists only on AKS, and a v1 service authenticates
 * callers with a key or a token, never an Entra token. The service's live flags are checked at rotation
 * and token time (`shared/v1/v1Rules.ts`). `kind` and `authMode` are undefined when they were refused.
 * @returns the spec, or undefined for other kinds or without a valid computeType and region (every
 * issue, an auth mode refused here among them, is reported through `bad`, which refuses the endpoint)
 */
export function validateV1Service(
  raw: unknown,
  kind: EndpointKind | undefined,
  authMode: AuthMode | undefined,
  bad: (issue: FieldIssue) => void,
): V1ServiceSpec | undefined {
  if (kind !== 'v1WebService') {
    if (raw !== undefined) bad({ field: 'v1', message: 'only for kind v1WebService' });
    return undefined;
  }
  if (!isObject(raw)) {
    bad({
      field: 'v1',
      message: 'an object with computeType (AKS or ACI) and region (the workspace region)',
    });
    return undefined;
  }
  const { computeType: givenComputeType, region: givenRegion, ...rest } = raw;
  for (const key of Object.keys(rest)) bad({ field: `v1.${key}`, message: 'is not a known field' });
  const computeType = V1_COMPUTE_TYPES.find((type) => type === givenComputeType);
  if (computeType === undefined)
    bad({ field: 'v1.computeType', message: `one of ${V1_COMPUTE_TYPES.join(', ')}` });
  const region = typeof givenRegion === 'string' && REGION.test(givenRegion) ? givenRegion : undefined;
  if (region === undefined)
    bad({
      field: 'v1.region',
      message: 'an Azure region name such as westeurope (lowercase letters and digits)',
    });
  if (authMode === 'AADToken')
    bad({
      field: 'authMode',
      message:
        'v1 web services support Key (auth_enabled) or AMLToken (token_auth_enabled) only; Entra tokens are for v2 endpoints',
    });
  else if (authMode === 'AMLToken' && computeType === 'ACI')
    bad({
      field: 'authMode',
      message:
        'token auth exists only on AKS web services (v1 rule: token_auth_enabled is not supported on ACI); use Key',
    });
  return computeType === undefined || region === undefined ? undefined : { computeType, region };
}
