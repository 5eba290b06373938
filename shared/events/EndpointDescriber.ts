import type { ArmCoordinates } from '../endpoints/ManagedEndpoint';
import { DependencyFailedError } from '../errors';
import { statusOf } from '../networkErrors';
import { isTransientError } from '../retry';

/** What auto-registration needs to know about an online endpoint. */
export interface EndpointDescription {
  /** ARM `properties.authMode` as returned (`Key`, `AMLToken`, `AADToken`). */
  readonly authMode: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** Looks up an online endpoint's auth mode and tags (ARM `onlineEndpoints.get`). */
export interface EndpointDescriber {
  /** Undefined when the endpoint does not exist (deleted since, or not an online endpoint). */
  describe(coords: ArmCoordinates): Promise<EndpointDescription | undefined>;
}

/** Structural view of `AzureMachineLearningWorkspaces(sub).onlineEndpoints.get`. */
export interface OnlineEndpointsGetter {
  get(
    resourceGroup: string,
    workspace: string,
    name: string,
  ): Promise<{ tags?: Record<string, string>; properties: { authMode: string } }>;
}

/**
 * `EndpointDescriber` over the ARM SDK. A 404 means "nothing to register", another definite answer is a
 * `DependencyFailedError`; transient failures propagate (the router wraps them so the webhook answers 503
 * and Event Grid retries).
 */
export class ArmEndpointDescriber implements EndpointDescriber {
  constructor(
    private readonly options: { onlineEndpoints: (subscriptionId: string) => OnlineEndpointsGetter },
  ) {}

  async describe(coords: ArmCoordinates): Promise<EndpointDescription | undefined> {
    try {
      const endpoint = await this.options
        .onlineEndpoints(coords.subscriptionId)
        .get(coords.resourceGroup, coords.workspace, coords.name);
      return { authMode: endpoint.properties.authMode, tags: endpoint.tags ?? {} };
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) return undefined;
      // A definite "no" (403: no read role on that workspace; 400) is no bug and no outage: as the
      // rotation module's refusals, it is acknowledged as rejected, since retrying cannot change it.
      if (status !== undefined && !isTransientError(error))
        throw new DependencyFailedError(
          'arm',
          `ARM refused to describe the endpoint (HTTP ${status}).`,
          status,
          {
            cause: error,
          },
        );
      throw error;
    }
  }
}
