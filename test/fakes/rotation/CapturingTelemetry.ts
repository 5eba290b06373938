import type { Telemetry, TelemetryProps } from '../../../shared/telemetry';

/** Records telemetry events and metrics. */
export class CapturingTelemetry implements Telemetry {
  readonly events: Array<{ name: string; properties?: TelemetryProps }> = [];
  readonly metrics: Array<{ name: string; value: number; properties?: TelemetryProps }> = [];

  trackEvent(name: string, properties?: TelemetryProps): void {
    this.events.push({ name, ...(properties ? { properties } : {}) });
  }

  trackMetric(name: string, value: number, properties?: TelemetryProps): void {
    this.metrics.push({ name, value, ...(properties ? { properties } : {}) });
  }
}
