import type { RotationEvent, RotationEventSink } from '../../../shared/rotation/RotationEventSink';

/** Records published rotation events. */
export class CapturingRotationEventSink implements RotationEventSink {
  readonly events: RotationEvent[] = [];

  async publish(event: RotationEvent): Promise<void> {
    this.events.push(event);
  }
}
