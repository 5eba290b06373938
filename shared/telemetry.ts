import { isSecretPropertyName, type Logger } from './logging';

/** Telemetry properties: names and ids only, never key, token or secret values. */
export type TelemetryProps = Record<string, string | number | boolean | undefined>;

/** The telemetry port every service receives; Application Insights in Azure, nothing when unset. */
export interface Telemetry {
  /** A named business event such as `RotationSucceeded`. */
  trackEvent(name: string, properties?: TelemetryProps): void;
  /** A measurement such as `RotationDurationMs`. */
  trackMetric(name: string, value: number, properties?: TelemetryProps): void;
}

/** Telemetry that goes nowhere (no connection string, unit tests, benchmarks). */
export const noopTelemetry: Telemetry = { trackEvent() {}, trackMetric() {} };

/** Drops undefined values and any property whose name suggests secret material (defence in depth). */
export function safeTelemetryProps(properties: TelemetryProps | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(properties ?? {})) {
    if (value === undefined) continue;
    out[name] = isSecretPropertyName(name) ? '[redacted]' : String(value);
  }
  return out;
}

/** Minimal structural view of the `applicationinsights` module used here. */
export interface AppInsightsModule {
  setup(connectionString: string): { setAutoCollectConsole(value: boolean): unknown; start(): unknown };
  defaultClient: {
    trackEvent(t: { name: string; properties: Record<string, string> }): void;
    trackMetric(t: { name: string; value: number; properties: Record<string, string> }): void;
    context: { tags: Record<string, string>; keys: { cloudRole: string } };
  };
}

/**
 * Starts Application Insights once per process when a connection string is configured. The module is
 * loaded only then: it pulls in OpenTelemetry, which would otherwise slow every cold start.
 * @param connectionString - `APPLICATIONINSIGHTS_CONNECTION_STRING`; undefined turns telemetry off
 * @param roleName - cloud role name shown in the application map
 * @param load - loads the SDK; tests pass a capturing channel instead
 */
export function createTelemetry(
  connectionString: string | undefined,
  roleName: string,
  logger: Logger,
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  load: () => AppInsightsModule = () => require('applicationinsights') as AppInsightsModule,
): Telemetry {
  if (!connectionString) return noopTelemetry;
  try {
    const appInsights = load();
    const configuration = appInsights.setup(connectionString);
    configuration.setAutoCollectConsole(false);
    const client = appInsights.defaultClient;
    client.context.tags[client.context.keys.cloudRole] = roleName;
    configuration.start();
    return {
      trackEvent: (name, properties) =>
        client.trackEvent({ name, properties: safeTelemetryProps(properties) }),
      trackMetric: (name, value, properties) =>
        client.trackMetric({ name, value, properties: safeTelemetryProps(properties) }),
    };
  } catch (error) {
    logger.warn('start => Application Insights unavailable, telemetry off', {
      error: error instanceof Error ? error.name : 'unknown',
    });
    return noopTelemetry;
  }
}
