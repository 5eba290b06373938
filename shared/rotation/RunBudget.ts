import { type Repeat, TimeLimitError, untilAborted } from '../clock';
import { HOLD_WITHIN_MS } from './RotationEventSink';

/**
 * host.json `functionTimeout` (a unit test keeps the two equal): the host kills an invocation still running
 * then, and restarts the worker process with every other run it had. The app setting
 * `AzureFunctionsJobHost__functionTimeout` overrides it (`AppConfig.rotation.functionTimeoutMs`).
 */
export const FUNCTION_TIMEOUT_MS = 10 * 60_000;

/**
 * What a run keeps back from {@link FUNCTION_TIMEOUT_MS} for the work no budget interrupts: once it is spent,
 * journaling the stop (with the journal's retries), its `RotationFailed` send (bounded by {@link STOP_SEND_MS}
 * instead), releasing the lease, and on the last delivery the poison record. A plan's reads of Key Vault and of the endpoint's keys draw from the budget like the steps: with
 * their retries, 30 s a try, one read could outlast this minute many times over.
 */
export const STOP_MARGIN_MS = 60_000;

/**
 * How long a run's `RotationFailed` or `DriftDetected` send waits for Event Grid ({@link RunBudget.stopSend}).
 * They are sent as the run stops, a failure's in the stop margin when the budget ran out, and with the SDK's
 * retries (30 s a try) one could outlast the margin. Nothing else keeps these events, so the sink holds a cut
 * one for a retry, within `HOLD_WITHIN_MS`: a drift and the failure it ends in take 40 s at most together,
 * well inside {@link STOP_MARGIN_MS}, which leaves the rest to the stop's journal write and lease release.
 */
export const STOP_SEND_MS = 10_000;

/** The bounds of one send as a run stops ({@link RunBudget.stopSend}). */
export interface StopSend {
  /** Fires {@link STOP_SEND_MS} on: the sink gives Event Grid up and holds the event instead. */
  readonly send: AbortSignal;
  /** Fires `HOLD_WITHIN_MS` after `send`: the run goes on, whatever the sink is still doing. */
  readonly settled: AbortSignal;
}

/**
 * The time one rotation run may take. Every wait of the steps draws from it: the set step's
 * long-running operation and its waits at ARM's write gate, the test step's attempts. Once it is spent,
 * the run stops at the step it is in, which it leaves as a crash would (the journal says where to
 * resume), and the queue delivers the job again: a run that ends itself is logged and journaled, where
 * one the host kills is not.
 */
export class RunBudget {
  private readonly controller = new AbortController();
  private readonly stopTimer: () => void;
  /** The timers of {@link stopSend}'s signals, ended with the budget's. */
  private readonly sendTimers = new Set<() => void>();

  /**
   * @param repeat - the timer that ends the budget (`realRepeat`; the fake clock's in tests)
   */
  constructor(
    private readonly repeat: Repeat,
    readonly ms: number,
  ) {
    this.stopTimer = repeat(ms, () => {
      this.stopTimer();
      this.controller.abort(new DOMException('The rotation run is out of time.', 'AbortError'));
    });
  }

  /** Fires when the budget is spent; the adapters hand it to their calls, which then give up. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get spent(): boolean {
    return this.controller.signal.aborted;
  }

  /**
   * `work`'s outcome, or the signal's `AbortError` as soon as the budget is spent, so the run stops on time
   * even where a call heeds the signal late (the SDK's poller notices it at its next poll only).
   */
  race<T>(work: Promise<T>): Promise<T> {
    return untilAborted(work, this.controller.signal);
  }

  /**
   * The bounds of one send as the run stops (its `RotationFailed` or `DriftDetected` event), from now: a run
   * that stops early has the same bound as one out of time, which has it in the stop margin.
   */
  stopSend(): StopSend {
    return { send: this.firesIn(STOP_SEND_MS), settled: this.firesIn(STOP_SEND_MS + HOLD_WITHIN_MS) };
  }

  /** Ends the timers; call once the run is over. */
  end(): void {
    this.stopTimer();
    for (const stop of this.sendTimers) stop();
    this.sendTimers.clear();
  }

  /** A signal that fires `ms` from now, its reason a `TimeLimitError`. */
  private firesIn(ms: number): AbortSignal {
    const controller = new AbortController();
    const stop = this.repeat(ms, () => {
      stop();
      this.sendTimers.delete(stop);
      controller.abort(new TimeLimitError(ms));
    });
    this.sendTimers.add(stop);
    return controller.signal;
  }
}
