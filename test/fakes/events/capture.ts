import type { RotationEvent, RotationEventSink } from '../../../shared/events/RotationEvent';

export { CapturingLogger, CapturingTelemetry } from '../capture';

/** A sink that records published rotation events. */
export class RecordingEventSink implements RotationEventSink {
  readonly published: RotationEvent[] = [];
  async publish(event: RotationEvent): Promise<void> {
    this.published.push(event);
  }
}

/** A log sink that keeps formatted lines. */
export function capturingSink(): { sink: (level: string, line: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { sink: (level, line) => void lines.push(`${level} ${line}`), lines };
}
