import type { EndpointKind, ManagedEndpoint } from '../endpoints/ManagedEndpoint';
import { DependencyFailedError, DependencyUnavailableError } from '../errors';
import { errorCodeOf } from '../networkErrors';
import { PERMISSIONS } from '../permissions';
import { isTransientError } from '../retry';
import type { RegistrationCheck } from './EndpointAdminService';
import type { EndpointKeyClient } from './EndpointKeyClient';
import { AzureEndpointNotFoundError, AzureEndpointReadForbiddenError, requireAuthModeAt } from './errors';

/**
 * Longest a registration waits for ARM's answer, retries included. The rotation's reads retry for as long
 * as a run may take; an operator's `POST` should rather hear 503 and try again than wait minutes (and the
 * Functions front end ends an HTTP request after 230 s).
 */
const CHECK_TIMEOUT_MS = 15_000;

/** The ARM resource type of each kind that is an ARM resource (a v1 web service is not: it lives in model management). */
const ARM_TYPES: Partial<Record<EndpointKind, { type: string; read: string }>> = {
  onlineEndpoint: { type: 'onlineEndpoints', read: 'onlineEndpoints.get' },
  serverlessEndpoint: { type: 'serverlessEndpoints', read: 'serverlessEndpoints.get' },
};

/** ARM error codes of a 404 that say which coordinate is wrong (any other 404 leaves the workspace or the name). */
const NOT_FOUND_FIELDS: Readonly<Record<string, readonly string[]>> = {
  ResourceGroupNotFound: ['arm.resourceGroup'],
  SubscriptionNotFound: ['arm.subscriptionId'],
};

/** Options of {@link AzureEndpointCheck}. */
export interface AzureEndpointCheckOptions {
  /** The rotation's key clients: their `describe` reads the endpoint at ARM (online and serverless). */
  keys: Pick<EndpointKeyClient, 'describe'>;
  /** @default 15000 */
  timeoutMs?: number;
}

/**
 * Reads the endpoint a registration names at ARM before the admin service writes it, with the very read
 * the rotation's describe step makes: ARM's 404 (or an endpoint being deleted) is a 422 naming the ARM id
 * and the fields, a `Key` registration of an endpoint ARM shows with token auth the rotator's own 422
 * (`AUTH_MODE_NOT_KEY`), a token registration whose token ARM's auth mode does not take a 422
 * `AUTH_MODE_MISMATCH` (`servesAuthMode`, the rule the reinstatement of a re-created endpoint follows), a
 * 403 a 422 naming the RBAC action to grant, and no answer in time (5xx, 429, network, timeout) a 503 with
 * `Retry-After`. v1 web services are not ARM resources and are not read here.
 */
export class AzureEndpointCheck implements RegistrationCheck {
  constructor(private readonly options: AzureEndpointCheckOptions) {}

  async verify(endpoint: ManagedEndpoint): Promise<void> {
    const arm = ARM_TYPES[endpoint.kind];
    if (!arm) return;
    const armId = armResourceId(arm.type, endpoint);
    const timeoutMs = this.options.timeoutMs ?? CHECK_TIMEOUT_MS;
    const signal = AbortSignal.timeout(timeoutMs);
    let described;
    try {
      described = await this.options.keys.describe(endpoint, signal);
    } catch (error) {
      throw refusal(error, armId, arm.read, signal.aborted ? timeoutMs : undefined);
    }
    // A delete is a long-running operation: until it ends, ARM still shows the endpoint, as Deleting.
    if (described.provisioningState?.toLowerCase() === 'deleting')
      throw new AzureEndpointNotFoundError(armId, ['arm.name'], 'it is being deleted');
    requireAuthModeAt(endpoint, described.authMode);
  }
}

/** What a failed read of the endpoint answers the registration. */
function refusal(error: unknown, armId: string, read: string, timedOutAfterMs: number | undefined): unknown {
  if (timedOutAfterMs !== undefined)
    return new DependencyUnavailableError(
      'arm',
      `ARM did not answer a read of ${armId} within ${timedOutAfterMs / 1000} s.`,
      { cause: error },
    );
  if (error instanceof DependencyFailedError && error.dependencyStatus === 404) {
    const code = errorCodeOf(error.cause);
    const fields = (code && NOT_FOUND_FIELDS[code]) || ['arm.workspace', 'arm.name'];
    return new AzureEndpointNotFoundError(armId, fields, `ARM answered 404${code ? ` ${code}` : ''}`);
  }
  if (error instanceof DependencyFailedError && error.dependencyStatus === 403)
    return new AzureEndpointReadForbiddenError(armId, readAction(read));
  if (isTransientError(error) && !(error instanceof DependencyUnavailableError))
    return new DependencyUnavailableError('arm', `ARM is unavailable for a read of ${armId}.`, {
      cause: error,
    });
  return error;
}

/** The RBAC action `shared/permissions.ts` lists for an SDK operation. */
function readAction(operation: string): string {
  return (
    PERMISSIONS.find((p) => (p.operations as readonly string[]).includes(operation))?.action ?? operation
  );
}

/** The endpoint's ARM resource id, as the Azure portal shows it. */
function armResourceId(type: string, { arm }: Pick<ManagedEndpoint, 'arm'>): string {
  return (
    `/subscriptions/${arm.subscriptionId}/resourceGroups/${arm.resourceGroup}` +
    `/providers/Microsoft.MachineLearningServices/workspaces/${arm.workspace}/${type}/${arm.name}`
  );
}
