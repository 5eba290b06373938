import { type Repeat, untilAborted } from '../clock';

/**
 * host.json `functionTimeout` (a unit test keeps the two equal): the host kills an invocation still running
 * then, and restarts the worker process with every other run it had. The app setting
 * `AzureFunctionsJobHost__functionTimeout` overrides it (`AppConfig.rotation.functionTimeoutMs`).
 */
export const FUNCTION_TIMEOUT_MS = 10 * 60_000;

/**
 * What a run keeps back from {@link FUNCTION_TIMEOUT_MS} for the work no budget interrupts: once it is spent,
 * journaling the stop (with the journal's retries), releasing the lease, and on the last delivery the poison
 * record. A plan's reads of Key Vault and of the endpoint's keys draw from the budget like the steps: with
 * their retries, 30 s a try, one read could outlast this minute many times over.
 */
export const STOP_MARGIN_MS = 60_000;

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

  /**
   * @param repeat - the timer that ends the budget (`realRepeat`; the fake clock's in tests)
   */
  constructor(
    repeat: Repeat,
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

  /** Ends the timer; call once the run is over. */
  end(): void {
    this.stopTimer();
  }
}
