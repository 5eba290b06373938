import type { Logger, LogProps } from '../../shared/logging';
import type { Telemetry, TelemetryProps } from '../../shared/telemetry';

/** A logger that keeps every line for assertions. */
export class CapturingLogger implements Logger {
  readonly lines: Array<{ level: string; message: string; props?: LogProps }> = [];
  debug = (message: string, props?: LogProps) => void this.lines.push({ level: 'debug', message, props });
  info = (message: string, props?: LogProps) => void this.lines.push({ level: 'info', message, props });
  warn = (message: string, props?: LogProps) => void this.lines.push({ level: 'warn', message, props });
  error = (message: string, props?: LogProps) => void this.lines.push({ level: 'error', message, props });
  /** Every line as text, for "no secret anywhere" checks. */
  text(): string {
    return JSON.stringify(this.lines);
  }
}

/** Telemetry that keeps events and metrics. */
export class CapturingTelemetry implements Telemetry {
  readonly events: Array<{ name: string; props?: TelemetryProps }> = [];
  readonly metrics: Array<{ name: string; value: number; props?: TelemetryProps }> = [];
  trackEvent(name: string, props?: TelemetryProps): void {
    this.events.push({ name, props });
  }
  trackMetric(name: string, value: number, props?: TelemetryProps): void {
    this.metrics.push({ name, value, props });
  }
  async flush(): Promise<void> {}
  /** Sum of a metric's values. */
  count(name: string): number {
    return this.metrics.filter((m) => m.name === name).reduce((sum, m) => sum + m.value, 0);
  }
  /** Everything tracked, as text, for "no secret anywhere" checks. */
  text(): string {
    return JSON.stringify({ events: this.events, metrics: this.metrics });
  }
}

/** A log sink that keeps formatted lines (`level line`), as a module's `logSink` writes them. */
export function capturingSink(): { sink: (level: string, line: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { sink: (level, line) => void lines.push(`${level} ${line}`), lines };
}
