import type { KeySlot, ManagedEndpoint } from '../../endpoints/ManagedEndpoint';
import type { ModelManagementClient } from '../../v1/ModelManagementClient';
import { keyRotationRule, V1RuleError } from '../../v1/v1Rules';
import type { EndpointDescription, EndpointKeyClient, EndpointKeys } from '../EndpointKeyClient';
import { KeyValueRejectedError } from '../errors';

/**
 * `EndpointKeyClient` for Azure ML SDK v1 web services (AKS and ACI) over the workspace region's
 * model-management API. v1 cannot be given a key value, so {@link setsKeyValue} is false and the set
 * step regenerates, then reads the service's value back into the pending secret. `describe` enforces
 * the v1 rules (key auth must be on, never together with token auth) and throws `V1RuleError` (422)
 * naming the rule, so a rotation of a token-only or auth-less service stops before touching anything.
 * @example new V1WebServiceKeyClient(new ModelManagementClient({ sender: clients.modelManagement, hostTemplate, sleep }))
 */
export class V1WebServiceKeyClient implements EndpointKeyClient {
  constructor(private readonly mms: ModelManagementClient) {}

  /** v1 services choose their own key values. */
  setsKeyValue(): boolean {
    return false;
  }

  /** Scoring URI of a key-auth service; throws `V1RuleError` when the service's flags forbid key rotation. */
  async describe(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointDescription> {
    const service = await this.mms.describe(endpoint, abortSignal);
    const rule = keyRotationRule(endpoint, service);
    if (rule) throw new V1RuleError(rule, endpoint.id);
    return { authMode: 'Key', scoringUri: service.scoringUri };
  }

  async listKeys(endpoint: ManagedEndpoint, abortSignal?: AbortSignal): Promise<EndpointKeys> {
    return this.mms.listKeys(endpoint, abortSignal);
  }

  /** Regenerates one slot (service-chosen value); a value is refused as `KeyValueRejectedError`. */
  async regenerateKey(
    endpoint: ManagedEndpoint,
    slot: KeySlot,
    keyValue?: string,
    abortSignal?: AbortSignal,
  ): Promise<void> {
    if (keyValue !== undefined) throw new KeyValueRejectedError();
    await this.mms.regenerateKey(endpoint, slot, abortSignal);
  }
}
