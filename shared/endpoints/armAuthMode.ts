/**
 * Which registered auth mode the auth mode ARM shows for an endpoint (`properties.authMode`) serves. One rule
 * for every reader of ARM: a registration (`AzureEndpointCheck`), the rotator, and the reinstatement of a
 * re-created endpoint (`EndpointAutoRegistrar`), so none of them accepts what another refuses.
 */

import type { ManagedEndpoint } from './ManagedEndpoint';

/**
 * Whether ARM's auth mode is one whose keys the app rotates: exactly `Key`. A token endpoint has no keys; a
 * serverless `KeyAndAAD` one is not rotated either (the rotator has always compared so).
 */
export function hasKeyAuth(armAuthMode: string): boolean {
  return armAuthMode === 'Key';
}

/**
 * Whether ARM's auth mode takes the credential the app hands out for the registration's `authMode`: `Key`
 * as {@link hasKeyAuth}; for a token registration (compared ignoring case, as ARM spells serverless modes
 * `AAD` and `KeyAndAAD`) an online endpoint's mode itself, and a serverless endpoint's `AAD` or `KeyAndAAD`
 * for an Entra ID token (`AADToken`), never an `AMLToken` (serverless endpoints issue none). Otherwise the
 * broker would vend what the endpoint refuses: ARM's `/token` answers 400 for an endpoint without
 * `AMLToken`, and a scoring URI refuses a token of the other kind with 401.
 */
export function servesAuthMode(
  endpoint: Pick<ManagedEndpoint, 'kind' | 'authMode'>,
  armAuthMode: string,
): boolean {
  if (endpoint.authMode === 'Key') return hasKeyAuth(armAuthMode);
  const atArm = armAuthMode.toLowerCase();
  if (endpoint.kind !== 'serverlessEndpoint') return atArm === endpoint.authMode.toLowerCase();
  return endpoint.authMode === 'AADToken' && (atArm === 'aad' || atArm === 'keyandaad');
}
