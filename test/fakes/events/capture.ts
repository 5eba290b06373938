export { CapturingLogger, CapturingTelemetry } from '../capture';

/** A log sink that keeps formatted lines. */
export function capturingSink(): { sink: (level: string, line: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { sink: (level, line) => void lines.push(`${level} ${line}`), lines };
}
