import type { ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import { AppError } from '../errors';
import type { V1ServiceDescription } from './ModelManagementClient';

/**
 * The auth rules of Azure ML SDK v1 web services, from the v1 documentation ("Authenticate with ML web services") and azureml-core, each with
 * a stable code and the sentence shown in 4xx bodies:
 * - AKS services have key auth on by default, ACI services off (`auth_enabled`);
 * - token auth exists only on AKS, is off by default (`token_auth_enabled`);
 * - key auth and token auth cannot be on at the same time.
 */
export const V1_RULES = {
  keyAuthDisabled: {
    code: 'V1_KEY_AUTH_DISABLED',
    text: 'key auth is off for this service (v1 rule: ACI services have key auth off by default, AKS services on; enable it with auth_enabled=True), so it has no keys to rotate',
  },
  tokenAuthAksOnly: {
    code: 'V1_TOKEN_AUTH_AKS_ONLY',
    text: 'token auth exists only on AKS web services (v1 rule: ACI does not support token_auth_enabled)',
  },
  tokenAuthDisabled: {
    code: 'V1_TOKEN_AUTH_DISABLED',
    text: 'token auth is off for this service (v1 rule: token auth is off by default on AKS; enable it with token_auth_enabled=True and auth_enabled=False)',
  },
  keyAndTokenExclusive: {
    code: 'V1_KEY_AND_TOKEN_AUTH_EXCLUSIVE',
    text: 'key auth and token auth cannot be on together (v1 rule), yet the service reports both; redeploy it with one of them',
  },
  computeTypeMismatch: {
    code: 'V1_COMPUTE_TYPE_MISMATCH',
    text: 'the service runs on a different compute type than registered; update v1.computeType',
  },
} as const;

/** One of {@link V1_RULES}. */
export type V1Rule = (typeof V1_RULES)[keyof typeof V1_RULES];

/** A request broke a v1 auth rule: 422 with the rule's code, naming the rule. */
export class V1RuleError extends AppError {
  readonly code: string;
  readonly status = 422;
  constructor(
    readonly rule: V1Rule,
    readonly endpointId: string,
  ) {
    super(`v1 web service ${endpointId}: ${rule.text}.`);
    this.code = rule.code;
  }
}

function commonRule(endpoint: ManagedEndpoint, service: V1ServiceDescription): V1Rule | undefined {
  if (service.authEnabled && service.tokenAuthEnabled) return V1_RULES.keyAndTokenExclusive;
  if (endpoint.v1 && service.computeType !== endpoint.v1.computeType) return V1_RULES.computeTypeMismatch;
  return undefined;
}

/** The rule a key rotation of `endpoint` would break, given what the service says; undefined when allowed. */
export function keyRotationRule(
  endpoint: ManagedEndpoint,
  service: V1ServiceDescription,
): V1Rule | undefined {
  return commonRule(endpoint, service) ?? (service.authEnabled ? undefined : V1_RULES.keyAuthDisabled);
}

/** The rule a token request for `endpoint` would break; undefined when allowed. */
export function tokenRule(endpoint: ManagedEndpoint, service?: V1ServiceDescription): V1Rule | undefined {
  if (endpoint.v1?.computeType === 'ACI' || service?.computeType === 'ACI') return V1_RULES.tokenAuthAksOnly;
  if (!service) return undefined;
  return commonRule(endpoint, service) ?? (service.tokenAuthEnabled ? undefined : V1_RULES.tokenAuthDisabled);
}
