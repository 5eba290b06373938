import type { ArmCoordinates, EndpointKind } from '../endpoints/ManagedEndpoint';
import { DependencyFailedError } from '../errors';
import { statusOf } from '../networkErrors';
import { isTransientError } from '../retry';

/** What auto-registration needs to know about an online or serverless endpoint. */
export interface EndpointDescription {
  /** ARM `properties.authMode` as returned (`Key`, `AMLToken`, `AADToken`; serverless `Key`, `Aad`, `KeyAndAad`). */
  readonly authMode: string;
  readonly tags: Readonly<Record<string, string>>;
}

/** The kinds of endpoint that are ARM resources (a v1 web service lives in the workspace's model management). */
export type ArmEndpointKind = Extract<EndpointKind, 'onlineEndpoint' | 'serverlessEndpoint'>;

/** Looks up an online endpoint's auth mode and tags (ARM `onlineEndpoints.get`), and whether an endpoint exists. */
export interface EndpointDescriber {
  /**
   * Undefined when the endpoint of `kind` (an online endpoint unless said) does not exist (deleted since, or
   * not of that kind); a serverless endpoint has no tags here, and one being deleted does not exist.
   * `abortSignal` ends the read, its request included (a delivery out of time).
   */
  describe(
    coords: ArmCoordinates,
    kind?: ArmEndpointKind,
    abortSignal?: AbortSignal,
  ): Promise<EndpointDescription | undefined>;
  /**
   * Whether ARM has the endpoint of `kind` at `coords` now: false for a 404 (the endpoint, its workspace or
   * its resource group is gone) and for one being deleted (`provisioningState` `Deleting`). A definite
   * refusal (403) is a `DependencyFailedError`; transient failures propagate. `abortSignal` ends the read.
   */
  exists(kind: ArmEndpointKind, coords: ArmCoordinates, abortSignal?: AbortSignal): Promise<boolean>;
}

/** Structural view of `AzureMachineLearningWorkspaces(sub).onlineEndpoints.get`. */
export interface OnlineEndpointsGetter {
  get(
    resourceGroup: string,
    workspace: string,
    name: string,
    options?: { abortSignal?: AbortSignal },
  ): Promise<{ tags?: Record<string, string>; properties: { authMode: string; provisioningState?: string } }>;
}

/**
 * Reads a serverless endpoint at ARM (the rotation's `ArmServerlessKeyClient.describe`, whose failures are
 * `withRetries`'s: a definite answer is a `DependencyFailedError` carrying the status).
 */
export type ServerlessEndpointGetter = (
  coords: ArmCoordinates,
  abortSignal?: AbortSignal,
) => Promise<{ provisioningState?: string; authMode?: string }>;

/**
 * `EndpointDescriber` over the ARM SDK. A 404 means "nothing to register", another definite answer is a
 * `DependencyFailedError`; transient failures propagate (the router wraps them so the webhook answers 503
 * and Event Grid retries).
 */
export class ArmEndpointDescriber implements EndpointDescriber {
  constructor(
    private readonly options: {
      onlineEndpoints: (subscriptionId: string) => OnlineEndpointsGetter;
      serverlessEndpoints: ServerlessEndpointGetter;
    },
  ) {}

  async exists(kind: ArmEndpointKind, coords: ArmCoordinates, abortSignal?: AbortSignal): Promise<boolean> {
    try {
      const { provisioningState } =
        kind === 'serverlessEndpoint'
          ? await this.options.serverlessEndpoints(coords, abortSignal)
          : (await this.getOnline(coords, abortSignal)).properties;
      // A delete is a long-running operation: until it ends, ARM still shows the endpoint, as Deleting.
      return provisioningState?.toLowerCase() !== 'deleting';
    } catch (error) {
      const status = error instanceof DependencyFailedError ? error.dependencyStatus : statusOf(error);
      if (status === 404) return false;
      if (status !== undefined && !isTransientError(error) && !(error instanceof DependencyFailedError))
        throw new DependencyFailedError('arm', `ARM refused to read the endpoint (HTTP ${status}).`, status, {
          cause: error,
        });
      throw error;
    }
  }

  async describe(
    coords: ArmCoordinates,
    kind: ArmEndpointKind = 'onlineEndpoint',
    abortSignal?: AbortSignal,
  ): Promise<EndpointDescription | undefined> {
    if (kind === 'serverlessEndpoint') return this.describeServerless(coords, abortSignal);
    try {
      const endpoint = await this.getOnline(coords, abortSignal);
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

  /** ARM `onlineEndpoints.get`; the signal reaches the SDK, which aborts the request. */
  private getOnline(coords: ArmCoordinates, abortSignal: AbortSignal | undefined) {
    return this.options
      .onlineEndpoints(coords.subscriptionId)
      .get(coords.resourceGroup, coords.workspace, coords.name, abortSignal ? { abortSignal } : undefined);
  }

  /** A serverless endpoint's auth mode (its failures are `withRetries`'s: a 404 is a `DependencyFailedError`). */
  private async describeServerless(
    coords: ArmCoordinates,
    abortSignal: AbortSignal | undefined,
  ): Promise<EndpointDescription | undefined> {
    try {
      const { authMode, provisioningState } = await this.options.serverlessEndpoints(coords, abortSignal);
      if (provisioningState?.toLowerCase() === 'deleting') return undefined;
      return { authMode: authMode ?? 'Unknown', tags: {} };
    } catch (error) {
      if (error instanceof DependencyFailedError && error.dependencyStatus === 404) return undefined;
      throw error;
    }
  }
}
