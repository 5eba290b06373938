import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { AzureMonitorOpenTelemetryOptions } from 'applicationinsights';

import { isSecretPropertyName, type Logger } from './logging';
import { errorName } from './networkErrors';
import { tableKeyRedactor } from './tableKeyRedactor';

/** The OpenTelemetry resource type the SDK takes (type only: nothing is loaded at import). */
type SdkResource = NonNullable<AzureMonitorOpenTelemetryOptions['resource']>;

/** Telemetry properties: names and ids only, never key, token or secret values. */
export type TelemetryProps = Record<string, string | number | boolean | undefined>;

/** The telemetry port every service receives; Application Insights in Azure, nothing when unset. */
export interface Telemetry {
  /** A named business event such as `RotationSucceeded`. */
  trackEvent(name: string, properties?: TelemetryProps): void;
  /** A measurement such as `RotationDurationMs`. */
  trackMetric(name: string, value: number, properties?: TelemetryProps): void;
  /** Sends what is still batched (graceful shutdown); never rejects. */
  flush(): Promise<void>;
}

/** Telemetry that goes nowhere (no connection string, unit tests, benchmarks). */
export const noopTelemetry: Telemetry = { trackEvent() {}, trackMetric() {}, flush: async () => {} };

/** Drops undefined values and any property whose name suggests secret material (defence in depth). */
export function safeTelemetryProps(properties: TelemetryProps | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(properties ?? {})) {
    if (value === undefined) continue;
    out[name] = isSecretPropertyName(name) ? '[redacted]' : String(value);
  }
  return out;
}

/** Worker-side sampling, derived from the host's `logging.applicationInsights.samplingSettings`. */
export interface TelemetrySampling {
  /** Rate limit of sampled traces (requests + dependencies) per second; 0 = no rate limit. */
  readonly tracesPerSecond: number;
}

/**
 * Maps host.json sampling to the worker SDK, so one file governs both: the host samples its request
 * telemetry adaptively at `maxTelemetryItemsPerSecond` (default 20), and the worker rate-limits its
 * traces to the same figure; `isEnabled: false` turns sampling off in both. Custom events and metrics
 * are never sampled (host.json excludes `Event`; the SDK sends them as logs and metrics, not traces).
 */
export function samplingFromHostJson(hostJson: unknown): TelemetrySampling {
  const logging = (hostJson as { logging?: { applicationInsights?: { samplingSettings?: unknown } } })
    ?.logging;
  const settings = logging?.applicationInsights?.samplingSettings as
    { isEnabled?: unknown; maxTelemetryItemsPerSecond?: unknown } | undefined;
  if (settings?.isEnabled === false) return { tracesPerSecond: 0 };
  const max = settings?.maxTelemetryItemsPerSecond;
  return { tracesPerSecond: typeof max === 'number' && max > 0 ? max : 20 };
}

/** Reads host.json next to the app (`dist/shared/..` when built, `shared/..` under ts-jest). */
export function readHostSampling(from: string = __dirname): TelemetrySampling {
  for (const path of [join(from, '..', 'host.json'), join(from, '..', '..', 'host.json')]) {
    try {
      return samplingFromHostJson(JSON.parse(readFileSync(path, 'utf8')) as unknown);
    } catch {
      // not here (or unreadable): try the next candidate, then fall back to the host default
    }
  }
  return samplingFromHostJson(undefined);
}

/** Minimal structural view of the `applicationinsights` 3.x module used here. */
export interface AppInsightsModule {
  setup(connectionString: string): AppInsightsConfiguration;
  defaultClient: {
    trackEvent(t: { name: string; properties: Record<string, string> }): void;
    trackMetric(t: { name: string; value: number; properties: Record<string, string> }): void;
    flush(): Promise<void>;
  };
}

/** The chained `Configuration` returned by `setup`. */
export interface AppInsightsConfiguration {
  setAutoCollectConsole(value: boolean): AppInsightsConfiguration;
  setAutoCollectRequests(value: boolean): AppInsightsConfiguration;
  setAutoCollectDependencies(value: boolean): AppInsightsConfiguration;
  setAutoCollectExceptions(value: boolean): AppInsightsConfiguration;
  setAzureMonitorOptions(options: AzureMonitorOpenTelemetryOptions): AppInsightsConfiguration;
  start(): unknown;
}

/** The SDK plus the OpenTelemetry resource factory it takes the cloud role name from. */
export interface TelemetrySdk {
  readonly appInsights: AppInsightsModule;
  /** `resourceFromAttributes` of the `@opentelemetry/resources` that `applicationinsights` uses. */
  resource(attributes: Record<string, string>): SdkResource;
}

/** Loads the SDK only when telemetry is on: it pulls in OpenTelemetry, which would slow every cold start. */
function loadSdk(): TelemetrySdk {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const appInsights = require('applicationinsights') as AppInsightsModule;
  // Resolved from applicationinsights' own location, so it is the copy the SDK itself uses.
  const from = dirname(require.resolve('applicationinsights'));
  const resources = require(require.resolve('@opentelemetry/resources', { paths: [from] })) as {
    resourceFromAttributes(attributes: Record<string, string>): SdkResource;
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
  return { appInsights, resource: (attributes) => resources.resourceFromAttributes(attributes) };
}

/** How `createTelemetry` is configured. */
export interface TelemetryOptions {
  /** `APPLICATIONINSIGHTS_CONNECTION_STRING`; undefined turns telemetry off. */
  readonly connectionString: string | undefined;
  /** Cloud role name (OpenTelemetry `service.name`) of the worker's telemetry. */
  readonly roleName: string;
  readonly sampling: TelemetrySampling;
  readonly logger: Logger;
  /** Loads the SDK; tests pass a capturing channel instead. */
  readonly sdk?: () => TelemetrySdk;
}

/**
 * Starts Application Insights once per process when a connection string is configured: dependencies
 * (Azure SDK and HTTP calls, correlated with the host's request telemetry through the SDK's Functions
 * pre-invocation hook; Table entity keys stripped from their URLs), exceptions, custom events and
 * metrics. Requests are the host's: one per invocation, named after the function. Console capture stays
 * off: our logger already reaches the host's log stream, and capturing it twice would double every trace.
 */
export function createTelemetry(options: TelemetryOptions): Telemetry {
  const { connectionString, roleName, sampling, logger } = options;
  if (!connectionString) return noopTelemetry;
  try {
    const sdk = (options.sdk ?? loadSdk)();
    sdk.appInsights
      .setup(connectionString)
      .setAutoCollectConsole(false)
      .setAutoCollectRequests(true)
      .setAutoCollectDependencies(true)
      .setAutoCollectExceptions(true)
      .setAzureMonitorOptions({
        resource: sdk.resource({ 'service.name': roleName }),
        tracesPerSecond: sampling.tracesPerSecond,
        spanProcessors: [tableKeyRedactor],
      })
      .start();
    const client = sdk.appInsights.defaultClient;
    return {
      trackEvent: (name, properties) =>
        guard(() => client.trackEvent({ name, properties: safeTelemetryProps(properties) })),
      trackMetric: (name, value, properties) =>
        guard(() => client.trackMetric({ name, value, properties: safeTelemetryProps(properties) })),
      // The exporters batch (metrics for up to a minute): a stopping instance would drop the rest.
      flush: async () => {
        try {
          await client.flush();
        } catch {
          // dropped, as in guard: shutdown goes on without the last telemetry items
        }
      },
    };
  } catch (error) {
    logger.warn('start => Application Insights unavailable, telemetry off', {
      error: errorName(error),
    });
    return noopTelemetry;
  }
}

/** Telemetry must never fail the operation it describes. */
function guard(send: () => void): void {
  try {
    send();
  } catch {
    // dropped: a rotation or token request is worth more than its telemetry item
  }
}
