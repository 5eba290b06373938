import type { RotationEvent, RotationEventSink } from '../../../shared/rotation/RotationEventSink';
import type { FaultPlan } from './FaultPlan';

/**
 * Records published rotation events and the ids they were published under. Given the rotation fakes'
 * `FaultPlan`, a publish is one of their mutations: a crash can fall just before or just after it.
 */
export class CapturingRotationEventSink implements RotationEventSink {
  readonly events: RotationEvent[] = [];
  /** The `eventId` each publish was given, in order (undefined when the caller left it to the sink). */
  readonly eventIds: Array<string | undefined> = [];
  /** Called after each recorded publish (a test's moment to break what comes next). */
  onPublish: ((event: RotationEvent) => void) | undefined;

  constructor(private readonly faults?: FaultPlan) {}

  async publish(event: RotationEvent, eventId?: string): Promise<void> {
    this.faults?.check();
    this.events.push(event);
    this.eventIds.push(eventId);
    this.onPublish?.(event);
    this.faults?.mutated(`events.publish:${event.type}`);
  }
}
