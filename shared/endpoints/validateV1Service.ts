import type { FieldIssue } from '../errors';
import { isObject } from '../isObject';
import { V1_COMPUTE_TYPES, type V1ComputeType, type V1ServiceSpec } from './ManagedEndpoint';

const REGION = /^[a-z][a-z0-9]{1,39}$/;

/**
 * Validates the `v1` field against the kind and auth mode, with the v1 rules that can be checked
 * without calling Azure (the v1 documentation): token auth exists only on AKS, and a v1 service authenticates
 * callers with a key or a token, never an Entra token. The service's live flags are checked at rotation
 * and token time (`shared/v1/v1Rules.ts`).
 * @returns the spec, or undefined for other kinds (or when invalid; issues were reported)
 */
export function validateV1Service(
  raw: unknown,
  kind: unknown,
  authMode: unknown,
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
  const { computeType, region, ...rest } = raw;
  for (const key of Object.keys(rest)) bad({ field: `v1.${key}`, message: 'is not a known field' });
  // An unknown field is reported but leaves the spec whole; a bad value of a known one leaves none.
  const refusedFields: string[] = [];
  const report = (field: string, message: string): void => {
    refusedFields.push(field);
    bad({ field, message });
  };
  if (!V1_COMPUTE_TYPES.includes(computeType as V1ComputeType))
    report('v1.computeType', `one of ${V1_COMPUTE_TYPES.join(', ')}`);
  if (typeof region !== 'string' || !REGION.test(region))
    report('v1.region', 'an Azure region name such as westeurope (lowercase letters and digits)');
  if (authMode === 'AADToken')
    report(
      'authMode',
      'v1 web services support Key (auth_enabled) or AMLToken (token_auth_enabled) only; Entra tokens are for v2 endpoints',
    );
  else if (authMode === 'AMLToken' && computeType === 'ACI')
    report(
      'authMode',
      'token auth exists only on AKS web services (v1 rule: token_auth_enabled is not supported on ACI); use Key',
    );
  if (refusedFields.length > 0) return undefined;
  return { computeType: computeType as V1ComputeType, region: region as string };
}
