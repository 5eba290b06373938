import { isObject } from '../isObject';
import { accepted, type Bad, matching, oneOf } from './fieldChecks';
import {
  type AuthMode,
  type EndpointKind,
  V1_COMPUTE_TYPES,
  type V1ComputeType,
  type V1ServiceSpec,
} from './ManagedEndpoint';

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
  bad: Bad,
): V1ServiceSpec | undefined {
  if (kind !== 'v1WebService') {
    if (raw !== undefined) bad('v1', 'only for kind v1WebService');
    return undefined;
  }
  if (!isObject(raw)) {
    bad('v1', 'an object with computeType (AKS or ACI) and region (the workspace region)');
    return undefined;
  }
  const { computeType: givenComputeType, region: givenRegion, ...rest } = raw;
  for (const key of Object.keys(rest)) bad(`v1.${key}`, 'is not a known field');
  const computeType = accepted(
    givenComputeType,
    isV1ComputeType,
    'v1.computeType',
    oneOf(V1_COMPUTE_TYPES),
    bad,
  );
  const region = accepted(
    givenRegion,
    matching(REGION),
    'v1.region',
    'an Azure region name such as westeurope (lowercase letters and digits)',
    bad,
  );
  if (authMode === 'AADToken')
    bad(
      'authMode',
      'v1 web services support Key (auth_enabled) or AMLToken (token_auth_enabled) only; Entra tokens are for v2 endpoints',
    );
  else if (authMode === 'AMLToken' && computeType === 'ACI')
    bad(
      'authMode',
      'token auth exists only on AKS web services (v1 rule: token_auth_enabled is not supported on ACI); use Key',
    );
  return computeType === undefined || region === undefined ? undefined : { computeType, region };
}

function isV1ComputeType(value: unknown): value is V1ComputeType {
  return V1_COMPUTE_TYPES.some((type) => type === value);
}
