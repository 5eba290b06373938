import { untilAborted } from '../../../shared/clock';
import type { IfSendCut, RotationEvent, RotationEventSink } from '../../../shared/rotation/RotationEventSink';
import { neverEnds } from '../sleeps';
import type { FaultPlan } from './FaultPlan';

/**
 * Records published rotation events and the ids they were published under. Given the rotation fakes'
 * `FaultPlan`, a publish is one of their mutations: a crash can fall just before or just after it.
 */
export class CapturingRotationEventSink implements RotationEventSink {
  readonly events: RotationEvent[] = [];
  /** The `eventId` each publish was given, in order (undefined when the caller left it to the sink). */
  readonly eventIds: Array<string | undefined> = [];
  /** The signal each publish was handed, in call order (hung ones included). */
  readonly signals: Array<AbortSignal | undefined> = [];
  /**
   * Publishes of this type never answer: each ends only when its signal fires, as the SDK's request does
   * (and never without one), and is not recorded as published.
   */
  hangs: RotationEvent['type'] | undefined;
  /** False: a hung publish ignores its signal too (a sink whose retry queue hangs), and never ends. */
  heedsSignal = true;
  /**
   * Events a hung publish asked to `hold` when cut (RotationFailed, DriftDetected) left to the sink, as the
   * Event Grid publisher holds them on its retry queue, with the id they were to go out under.
   */
  readonly held: Array<{ event: RotationEvent; eventId: string | undefined }> = [];
  /** Called after each recorded publish (a test's moment to break what comes next). */
  onPublish: ((event: RotationEvent) => void) | undefined;

  constructor(private readonly faults?: FaultPlan) {}

  async publish(
    event: RotationEvent,
    eventId?: string,
    signal?: AbortSignal,
    ifCut?: IfSendCut,
  ): Promise<void> {
    this.signals.push(signal);
    if (this.hangs === event.type)
      try {
        await untilAborted(neverEnds(0), this.heedsSignal ? signal : undefined);
      } catch (error) {
        if (ifCut !== 'hold') throw error;
        this.held.push({ event, eventId });
        return;
      }
    this.faults?.check();
    this.events.push(event);
    this.eventIds.push(eventId);
    this.onPublish?.(event);
    this.faults?.mutated(`events.publish:${event.type}`);
  }
}
